/** Nodes with several operations, laid out as n8n's Postgres v2 node: one file per operation, a router picks one. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { nodeError } from './context';

/** What `actions/<operation>.operation.ts` exports: the parameters shown for it and what it does (one output). */
export interface NodeOperation {
	description: INodeProperties[];
	execute(this: IExecuteFunctions): Promise<INodeExecutionData[]>;
}

/** Runs the chosen operation; domain errors become n8n errors that say what to fix. */
export async function runOperation(ctx: IExecuteFunctions, operations: Record<string, NodeOperation>, defaultValue: string): Promise<INodeExecutionData[][]> {
	const node = ctx.getNode();
	try {
		const name = ctx.getNodeParameter('operation', 0, defaultValue) as string;
		const operation = Object.hasOwn(operations, name) ? operations[name] : undefined;
		if (!operation) throw new NodeOperationError(node, `The operation "${name}" is not known to this node`);
		return [await operation.execute.call(ctx)];
	} catch (e) {
		throw nodeError(node, e);
	}
}

/** Plain objects as items. */
export function toItems(objects: object[]): INodeExecutionData[] {
	return objects.map((json) => ({ json: json as INodeExecutionData['json'] }));
}
