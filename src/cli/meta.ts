/** Client build facts shown by `berth version` and `berth --version`. */
export const CLI_VERSION = '0.1.0';
export const GIT_COMMIT = 'unknown';
export const API_VERSION = '1.41';
