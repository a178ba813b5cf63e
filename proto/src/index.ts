// Loads the .proto files at run time and gives them the types generated into ./generated.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';

import type { ProtoGrpcType as CsiGrpcType } from './generated/csi';
import type { ProtoGrpcType as HealthGrpcType } from './generated/health';
import type { ProtoGrpcType as PluginRegistrationGrpcType } from './generated/pluginregistration';
import type { ProtoGrpcType as ProviderGrpcType } from './generated/provider';

export type { CsiGrpcType, HealthGrpcType, PluginRegistrationGrpcType, ProviderGrpcType };
export type { RegistrationHandlers } from './generated/pluginregistration/Registration';
export type { HealthHandlers } from './generated/grpc/health/v1/Health';
export type { IdentityHandlers } from './generated/csi/v1/Identity';
export type { NodeHandlers } from './generated/csi/v1/Node';
export type { ControllerHandlers } from './generated/csi/v1/Controller';
export type { NodePublishVolumeRequest__Output as NodePublishVolumeRequest } from './generated/csi/v1/NodePublishVolumeRequest';
export type { NodeUnpublishVolumeRequest__Output as NodeUnpublishVolumeRequest } from './generated/csi/v1/NodeUnpublishVolumeRequest';
export type { CSIDriverProviderClient } from './generated/v1alpha1/CSIDriverProvider';
export type { CSIDriverProviderHandlers } from './generated/v1alpha1/CSIDriverProvider';
export type { MountRequest, MountRequest__Output } from './generated/v1alpha1/MountRequest';
export type { MountResponse, MountResponse__Output } from './generated/v1alpha1/MountResponse';
export type { File as ProviderFile, File__Output as ProviderFile__Output } from './generated/v1alpha1/File';
export type { ObjectVersion, ObjectVersion__Output } from './generated/v1alpha1/ObjectVersion';
export type { VersionResponse, VersionResponse__Output } from './generated/v1alpha1/VersionResponse';

/** Must match the options of scripts/generate.js: the generated types describe what this yields. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Folder holding the .proto files: one level above both src/ (tests) and dist/ (builds). */
const PROTO_DIR = path.resolve(__dirname, '..');

function load<T>(file: string): T {
  const definition = protoLoader.loadSync(path.join(PROTO_DIR, file), LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition) as unknown as T;
}

/** A package loaded on its first use, then kept. */
function loadedOnce<T>(file: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load<T>(file));
}

/** The CSI v1 package (Identity, Controller, Node). */
export const loadCsi = loadedOnce<CsiGrpcType>('csi.proto');

/** The provider API package v1alpha1 (CSIDriverProvider). */
export const loadProvider = loadedOnce<ProviderGrpcType>('provider.proto');

/** The gRPC health checking package grpc.health.v1. */
export const loadHealth = loadedOnce<HealthGrpcType>('health.proto');

/** The kubelet's plugin registration package (pluginregistration). */
export const loadPluginRegistration = loadedOnce<PluginRegistrationGrpcType>('pluginregistration.proto');

/** The provider API version the driver announces in VersionRequest. */
export const PROVIDER_API_VERSION = 'v1alpha1';
