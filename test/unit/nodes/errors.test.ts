/** Every error the package writes reaches n8n as n8n's own error with the item, the field and a hint; only foreign errors are "unexpected". */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NodeApiError, NodeOperationError, type INode } from 'n8n-workflow';
import { nodeError } from '../../../nodes/shared/context';
import { CampaignError } from '../../../lib/errors';
import { CampaignInputError } from '../../../lib/schemas';
import { SendGridApiError } from '../../../lib/sendgrid/client';
import { LlmApiError } from '../../../lib/llm/client';
import { StoreConnectionError } from '../../../lib/store';
import { PayloadError } from '../../../lib/sendgrid/mailRequest';
import { PreflightError } from '../../../lib/preview/preflight';

const node: INode = { id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} };

function files(dir: string): string[] {
	return readdirSync(dir).flatMap((f) => {
		const p = join(dir, f);
		return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
	});
}

describe('nodeError', () => {
	it('an input error becomes a NodeOperationError with its item, field and hint', () => {
		const e = nodeError(node, new CampaignInputError('Step 2 has no subject', 'campaign.steps.1.subject', 'Give every step a subject').atItem(3));
		expect(e).toBeInstanceOf(NodeOperationError);
		expect(e.message).toBe('Step 2 has no subject');
		expect((e as NodeOperationError).description).toBe('Give every step a subject — Field: campaign.steps.1.subject');
		expect((e as NodeOperationError).context.itemIndex).toBe(3);
		// The caller's index is used when the error names none.
		expect((nodeError(node, new PayloadError('no copy', 'html'), 5) as NodeOperationError).context.itemIndex).toBe(5);
	});

	it('a service failure becomes a NodeApiError with the HTTP status; the key never shows', () => {
		const sg = nodeError(node, new SendGridApiError('SendGrid mail send failed (401): The provided authorization grant is invalid', 401, [], {}), 0) as NodeApiError;
		expect(sg).toBeInstanceOf(NodeApiError);
		expect(sg.httpCode).toBe('401');
		expect(sg.message).toMatch(/^SendGrid mail send failed \(401\)/);
		const llm = nodeError(node, new LlmApiError('The LLM answered 429: slow down (key sk-abcdefabcdefabcdefabcdef)', 429, {})) as NodeApiError;
		expect(llm).toBeInstanceOf(NodeApiError);
		expect(llm.httpCode).toBe('429');
		expect(llm.message).not.toContain('sk-abcdefabcdefabcdefabcdef');
		const store = nodeError(node, new StoreConnectionError('Campaign store at db:5432 could not be reached: connection refused')) as NodeApiError;
		expect(store).toBeInstanceOf(NodeApiError);
		expect(store.description).toMatch(/Campaign Database credential/);
	});

	it('no message the package wrote is called unexpected; a foreign one is', () => {
		for (const e of [new CampaignInputError('x'), new PreflightError([{ level: 'error', code: 'no_unsubscribe', step: 1, variant: 'A', message: 'no unsubscribe' }] as never), new CampaignError('y')])
			expect(nodeError(node, e).message).not.toMatch(/^Unexpected error/);
		expect(nodeError(node, new TypeError('x is undefined')).message).toBe('Unexpected error: x is undefined');
	});

	it('every error class in lib/ is a CampaignError (lib/errors.ts is the only one extending Error)', () => {
		const offenders: string[] = [];
		for (const f of files(join(__dirname, '../../../lib'))) {
			const text = readFileSync(f, 'utf8');
			for (const m of text.matchAll(/class (\w+) extends (\w+)/g)) if (m[2] === 'Error' && !f.endsWith('errors.ts')) offenders.push(`${f}: ${m[1]}`);
		}
		expect(offenders).toEqual([]);
	});
});
