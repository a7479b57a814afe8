// Types for eslint.layers.js (plain JavaScript, as eslint.config.js loads it), for test/lint/.
export declare const FOLDERS: string[];
export declare const CORE_SHARED: string[];
export declare const SHARED_FILES: string[];
export declare const ALLOWED: Record<string, string[]>;
export declare const layers: object[];
