/** n8n's execute context as far as the nodes use it, for adapter tests: parameters may be a function of the item index. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

export type Params = Record<string, unknown>;

export function fakeExecuteContext(
	params: Params,
	items: INodeExecutionData[],
	options: { continueOnFail?: boolean; workflowName?: string; more?: Partial<IExecuteFunctions> } = {},
): IExecuteFunctions {
	return {
		getNodeParameter: (name: string, i: number, fallback?: unknown) => {
			if (name in params) return typeof params[name] === 'function' ? (params[name] as (i: number) => unknown)(i) : params[name];
			if (fallback !== undefined) return fallback;
			throw new Error(`parameter ${name} not set in the test`);
		},
		getInputData: () => items,
		getNode: () => ({ id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} }),
		getCredentials: async () => {
			throw new Error('no credentials in this test');
		},
		continueOnFail: () => options.continueOnFail ?? false,
		getWorkflow: () => ({ id: 'wf-1', name: options.workflowName ?? 'Adapters', active: false }),
		getExecutionId: () => 'exec-1',
		getMode: () => 'manual',
		sendMessageToUI: () => undefined,
		helpers: {},
		...options.more,
	} as unknown as IExecuteFunctions;
}
