/** Nodes with several operations, laid out as n8n's Postgres v2 node: one file per operation, a router picks one. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { failItems, indexes, pairedAll } from './items';

/** What `actions/<operation>.operation.ts` exports: the parameters shown for it and what it does (one output). */
export interface NodeOperation {
	description: INodeProperties[];
	/**
	 * Runs once over all input items. Items it returns without pairedItem were made from all of them
	 * (a summary) and are paired with every input item, as n8n's Aggregate pairs its item.
	 */
	execute(this: IExecuteFunctions): Promise<INodeExecutionData[]>;
}

/**
 * Runs the chosen operation. A failure of the whole operation becomes one error item per input item
 * with Continue On Fail, else n8n's error that says what to fix (nodeError).
 */
export async function runOperation(ctx: IExecuteFunctions, operations: Record<string, NodeOperation>, defaultValue: string): Promise<INodeExecutionData[][]> {
	const count = ctx.getInputData().length;
	try {
		const name = ctx.getNodeParameter('operation', 0, defaultValue) as string;
		const operation = Object.hasOwn(operations, name) ? operations[name] : undefined;
		if (!operation) throw new NodeOperationError(ctx.getNode(), `The operation "${name}" is not known to this node`);
		const out = await operation.execute.call(ctx);
		const all = pairedAll(count);
		for (const item of out) item.pairedItem ??= all;
		return [out];
	} catch (e) {
		return [failItems(ctx, e, indexes(Math.max(count, 1)))];
	}
}

/** Plain objects as items. */
export function toItems(objects: object[]): INodeExecutionData[] {
	return objects.map((json) => ({ json: json as INodeExecutionData['json'] }));
}
