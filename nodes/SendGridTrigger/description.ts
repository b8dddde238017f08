/** The SendGrid Trigger's parameters; the webhook flows that read them live in lib/events/webhookFlow.ts. */
import type { INodeProperties } from 'n8n-workflow';
import { EVENT_TYPES } from '../../lib/events/normalize';

const eventOptions = EVENT_TYPES.map((e) => ({ name: e.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()), value: e }));

export const triggerProperties: INodeProperties[] = [
	{
		displayName: 'Registration',
		name: 'registration',
		type: 'options',
		options: [
			{ name: 'Automatic', value: 'auto', description: "Register this URL with SendGrid's Event Webhook settings when the workflow is published; remove it when unpublished" },
			{ name: 'Manual', value: 'manual', description: 'Paste the verification key and register the URL in SendGrid yourself' },
		],
		default: 'auto',
	},
	{
		displayName: 'Verification Key',
		name: 'publicKey',
		type: 'string',
		typeOptions: { password: true },
		default: '',
		displayOptions: { show: { registration: ['manual'] } },
		description:
			"The public key from SendGrid → Mail Settings → Event Webhooks → Signature Verification (base64 or PEM, also pasted as one line). Leave empty to use the SendGrid credential's Event Webhook Verification Key.",
	},
	// The default is made of the node's own ids, random per node (n8n generates them when the node is created): a new trigger is protected with nothing to set.
	// Shown in clear on purpose: it is part of the URL the user pastes into SendGrid's Inbound Parse settings.
	{
		displayName: 'Inbound Parse Secret',
		name: 'inboundSecret',
		// eslint-disable-next-line n8n-nodes-base/node-param-type-options-password-missing
		type: 'string',
		default: '={{ [$nodeId, $webhookId].join(".") }}',
		description:
			'Inbound Parse posts (the …/inbound URL) must carry this secret, as ?secret=… in the URL or an X-Inbound-Secret header; others are refused with 403 and change nothing. Generated for each new trigger; type your own to override. In SendGrid → Inbound Parse, enter this trigger\'s Production URL ending in /inbound followed by ?secret= and this value.',
		hint: 'Inbound Parse URL: the …/inbound Production URL + ?secret= + this value',
	},
	{
		displayName: 'Events',
		name: 'events',
		type: 'multiOptions',
		options: eventOptions,
		default: [...EVENT_TYPES],
		description: 'Event types to receive; others are answered 200 and ignored',
	},
	{
		displayName: 'Output',
		name: 'output',
		type: 'options',
		options: [
			{ name: 'One Item per Event', value: 'event' },
			{ name: 'One Item per Request', value: 'request', description: 'A batch of up to 1,000 events as one item' },
			{ name: 'Store Only', value: 'none', description: 'Update the campaign store and answer; start no workflow execution (highest throughput)' },
		],
		default: 'event',
	},
	{
		displayName: 'Pause Campaigns on Bad Reputation',
		name: 'reputationGuard',
		type: 'boolean',
		default: true,
		description:
			'Whether the reputation guard pauses a campaign (and the SendGrid account it sends with) when its hard bounces or spam complaints within the window pass the limits below. Every execution and worker stops at its next claim; unsent recipients stay unclaimed until you resume (Campaign Sequence → Resume).',
		hint: 'Needs Update Campaign Store on (the default). A pause also comes out of this trigger as a campaign_paused item: route it to Slack or email.',
	},
	{
		displayName: 'Reputation Limits',
		name: 'reputationLimits',
		type: 'collection',
		placeholder: 'Change a limit',
		default: {},
		displayOptions: { show: { reputationGuard: [true] } },
		options: [
			{
				displayName: 'Max Hard Bounce Rate (%)',
				name: 'hardBounceRatePercent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100, numberPrecision: 2 },
				default: 5,
				description: 'Pause when hard bounces pass this share of delivered + bounced messages. Above 5 % the list needs cleaning; SendGrid reviews accounts that bounce a lot.',
			},
			{
				displayName: 'Max Spam Complaint Rate (%)',
				name: 'spamRatePercent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100, numberPrecision: 3 },
				default: 0.1,
				description: 'Pause when spam reports pass this share of delivered messages. Gmail and Yahoo throttle senders above 0.3 %.',
			},
			{ displayName: 'Minimum Sends', name: 'minSends', type: 'number', typeOptions: { minValue: 1 }, default: 200, description: 'No pause before this many sends within the window: a few early bounces mean little' },
			{
				displayName: 'Pause',
				name: 'scopes',
				type: 'multiOptions',
				options: [
					{ name: 'The Campaign', value: 'campaign', description: 'Only the campaign whose messages bounced or were reported' },
					{ name: 'The SendGrid Account', value: 'account', description: 'Every campaign sent with the same SendGrid API key, when the account as a whole passes the limits' },
				],
				default: ['campaign', 'account'],
			},
			{ displayName: 'Window (Hours)', name: 'windowHours', type: 'number', typeOptions: { minValue: 1, maxValue: 720 }, default: 24, description: 'Rolling window the rates are measured over; resuming starts it again' },
		],
	},
	{
		displayName:
			'SendGrid posts events more than once, sometimes under a new sg_event_id. Each is recognised and output once only while the option Update Campaign Store is on (the default): with it off, no de-duplication happens.',
		name: 'dedupeNotice',
		type: 'notice',
		default: '',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add option',
		// Raw bytes on by default: Inbound Parse fields in ISO-8859-1 or Windows-1252 keep their letters.
		default: { binaryData: true },
		options: [
			{ displayName: 'Auto-Replies Stop Sequence', name: 'autoRepliesStop', type: 'boolean', default: false, description: 'Whether automatic replies (Auto-Submitted, X-Autoreply, Precedence: bulk, out-of-office subjects) count as replies' },
			{ displayName: 'Drop Machine Opens', name: 'dropMachineOpens', type: 'boolean', default: true, description: 'Whether to leave out opens SendGrid flags as machine opens (e.g. Apple Mail Privacy Protection) from the output and from open counts' },
			{ displayName: 'Emit Replayed Events', name: 'emitDuplicates', type: 'boolean', default: false, description: 'Whether events already received before (SendGrid retries for up to 24 hours) are output again. Replays are recognised only with Update Campaign Store on.' },
			{ displayName: 'Inbound Parse Token (Legacy)', name: 'inboundToken', type: 'string', typeOptions: { password: true }, default: '', description: 'Older setting: if set, it is the Inbound Parse secret instead of the Inbound Parse Secret parameter (accepted as ?token=… or ?secret=…)' },
			{ displayName: 'Max Body Size (MB)', name: 'maxBodyMb', type: 'number', default: 5, description: 'Larger requests are refused with 413' },
			// n8n 2.x reads `options.binaryData` of a version-1 webhook node and then leaves the request body unparsed (its multipart parser decodes every field as UTF-8).
			{ displayName: 'Read Raw Request Bytes', name: 'binaryData', type: 'boolean', default: true, description: 'Whether n8n hands this trigger the request bytes unparsed, so Inbound Parse fields sent in ISO-8859-1 or Windows-1252 are decoded by SendGrid\'s charsets field instead of arriving with U+FFFD in place of their accented letters (raw-MIME posts keep their charsets either way). Leave on.' },
			{ displayName: 'Reply Requires SPF or DKIM Pass', name: 'replyRequireAuth', type: 'boolean', default: true, description: 'Whether a reply whose SPF and DKIM (for the sender\'s domain) both failed is only reported (an ignored item) instead of stopping a sequence' },
			{ displayName: 'Reply Suppresses Globally', name: 'replySuppressesGlobally', type: 'boolean', default: false, description: 'Whether a reply also suppresses the contact for every later campaign (by default it stops only the sequence of the campaign it answers)' },
			{ displayName: 'Stop Sequence on Click', name: 'stopSequenceOnClick', type: 'boolean', default: false, description: 'Whether a click ends the contact\'s sequence (unsubscribe, hard bounce, spam report and reply always do)' },
			{ displayName: 'Timestamp Tolerance (Seconds)', name: 'toleranceSeconds', type: 'number', default: 600, description: 'Reject signed requests older or newer than this; 0 turns the check off' },
			{ displayName: 'Update Campaign Store', name: 'updateStore', type: 'boolean', default: true, description: 'Whether to store events once each (by sg_event_id and by message, event and time: SendGrid re-posts events, sometimes under a new sg_event_id), update delivery rows and suppressions. Off: no de-duplication at all — every event SendGrid re-posts is output again, and nothing is stored or suppressed.' },
		],
	},
];
