export { hubSettings, type HubSettings } from './settings.ts';
export { RepoCache, repoFolderName, verifyBlob, etagKind, COMMIT_HASH } from './cache.ts';
export { hubFile, type HubOptions, type FileProgress } from './download.ts';
export { type FileRef } from './http.ts';
export { parseHubId, hubIdOfSnapshot, hubModel, hubAdapter, resolveModelSource, shardNames, TOKENIZER_FILES, type HubRef, type HubModel, type Resolved } from './model.ts';
