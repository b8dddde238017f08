/** Picks the Campaign API Guard's key operation (Check Request is the node's own, with two outputs). */
import * as createApiKey from './createApiKey.operation';
import * as listApiKeys from './listApiKeys.operation';
import * as revokeApiKey from './revokeApiKey.operation';

export const keyOperations = { createApiKey, revokeApiKey, listApiKeys };
