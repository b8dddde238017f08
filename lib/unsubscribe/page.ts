/**
 * The page a person sees after clicking the footer's unsubscribe link: a confirm button (the POST
 * does the work, so mail scanners that prefetch links unsubscribe nobody), then "resubscribe" to undo.
 * In the campaign's language where we have the words, else English. Everything shown is escaped.
 */
import { escapeHtml } from '../merge';

interface Words {
	title: string;
	ask: (campaign: string) => string;
	confirm: string;
	done: (campaign: string) => string;
	undo: string;
	back: (campaign: string) => string;
	invalid: string;
}

const WORDS: Record<string, Words> = {
	en: {
		title: 'Unsubscribe',
		ask: (c) => `Stop receiving emails from ${c}?`,
		confirm: 'Unsubscribe',
		done: (c) => `You are unsubscribed from ${c}. You will not receive these emails any more.`,
		undo: 'Resubscribe',
		back: (c) => `You are subscribed to ${c} again.`,
		invalid: 'This unsubscribe link is not valid. Please use the link in the latest email you received.',
	},
	de: {
		title: 'Abmelden',
		ask: (c) => `Keine E-Mails mehr von ${c} erhalten?`,
		confirm: 'Abmelden',
		done: (c) => `Sie sind von ${c} abgemeldet und erhalten diese E-Mails nicht mehr.`,
		undo: 'Wieder anmelden',
		back: (c) => `Sie sind wieder für ${c} angemeldet.`,
		invalid: 'Dieser Abmeldelink ist ungültig. Bitte verwenden Sie den Link in der neuesten E-Mail.',
	},
	fr: {
		title: 'Se désabonner',
		ask: (c) => `Ne plus recevoir les e-mails de ${c} ?`,
		confirm: 'Se désabonner',
		done: (c) => `Vous êtes désabonné de ${c}. Vous ne recevrez plus ces e-mails.`,
		undo: 'Se réabonner',
		back: (c) => `Vous êtes de nouveau abonné à ${c}.`,
		invalid: "Ce lien de désabonnement n'est pas valide. Utilisez le lien du dernier e-mail reçu.",
	},
	es: {
		title: 'Darse de baja',
		ask: (c) => `¿Dejar de recibir correos de ${c}?`,
		confirm: 'Darse de baja',
		done: (c) => `Te has dado de baja de ${c}. Ya no recibirás estos correos.`,
		undo: 'Volver a suscribirse',
		back: (c) => `Vuelves a estar suscrito a ${c}.`,
		invalid: 'Este enlace para darse de baja no es válido. Usa el enlace del último correo que recibiste.',
	},
	it: {
		title: 'Annulla iscrizione',
		ask: (c) => `Non ricevere più email da ${c}?`,
		confirm: 'Annulla iscrizione',
		done: (c) => `Hai annullato l'iscrizione a ${c}. Non riceverai più queste email.`,
		undo: 'Iscriviti di nuovo',
		back: (c) => `Sei di nuovo iscritto a ${c}.`,
		invalid: "Questo link di disiscrizione non è valido. Usa il link dell'ultima email ricevuta.",
	},
	nl: {
		title: 'Afmelden',
		ask: (c) => `Geen e-mails meer ontvangen van ${c}?`,
		confirm: 'Afmelden',
		done: (c) => `U bent afgemeld voor ${c} en ontvangt deze e-mails niet meer.`,
		undo: 'Opnieuw aanmelden',
		back: (c) => `U bent weer aangemeld voor ${c}.`,
		invalid: 'Deze afmeldlink is ongeldig. Gebruik de link in de laatste e-mail die u ontving.',
	},
	pt: {
		title: 'Cancelar inscrição',
		ask: (c) => `Deixar de receber e-mails de ${c}?`,
		confirm: 'Cancelar inscrição',
		done: (c) => `Sua inscrição em ${c} foi cancelada. Você não receberá mais estes e-mails.`,
		undo: 'Inscrever-se novamente',
		back: (c) => `Você está inscrito em ${c} novamente.`,
		invalid: 'Este link de cancelamento não é válido. Use o link do e-mail mais recente.',
	},
};

/** The words for a BCP 47 tag: "pt-BR" → pt, unknown → en. */
export function wordsFor(language: string | undefined): { lang: string; words: Words } {
	const base = (language ?? 'en').toLowerCase().split('-')[0];
	return WORDS[base] ? { lang: base, words: WORDS[base] } : { lang: 'en', words: WORDS.en };
}

export type PageState = 'ask' | 'done' | 'back' | 'invalid';

/** One small page; `action` is the link's own URL (its query carries the token), the forms POST to it. */
export function unsubscribePage(state: PageState, options: { campaignName: string; language?: string; action?: string }): string {
	const { lang, words } = wordsFor(options.language);
	const name = escapeHtml(options.campaignName);
	const action = options.action ? escapeHtml(options.action) : '';
	const form = (label: string, value: string) =>
		`<form method="post" action="${action}"><input type="hidden" name="List-Unsubscribe" value="${value}"><input type="hidden" name="page" value="1"><button type="submit">${escapeHtml(label)}</button></form>`;
	const body =
		state === 'ask'
			? `<p>${escapeHtml(words.ask(options.campaignName))}</p>${form(words.confirm, 'One-Click')}`
			: state === 'done'
				? `<p id="done">${escapeHtml(words.done(options.campaignName))}</p>${form(words.undo, 'Resubscribe')}`
				: state === 'back'
					? `<p id="back">${escapeHtml(words.back(options.campaignName))}</p>${form(words.confirm, 'One-Click')}`
					: `<p id="invalid">${escapeHtml(words.invalid)}</p>`;
	return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(words.title)} – ${name}</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head><body><h1>${escapeHtml(words.title)}</h1>${body}</body></html>`;
}
