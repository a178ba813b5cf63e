// Original file: provider.proto

export interface VersionRequest {
  version?: string;
}

export interface VersionRequest__Output {
  version: string;
}
