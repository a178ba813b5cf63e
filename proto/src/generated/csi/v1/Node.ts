// Original file: csi.proto

import type * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type {
  NodeGetCapabilitiesRequest as _csi_v1_NodeGetCapabilitiesRequest,
  NodeGetCapabilitiesRequest__Output as _csi_v1_NodeGetCapabilitiesRequest__Output,
} from '../../csi/v1/NodeGetCapabilitiesRequest';
import type {
  NodeGetCapabilitiesResponse as _csi_v1_NodeGetCapabilitiesResponse,
  NodeGetCapabilitiesResponse__Output as _csi_v1_NodeGetCapabilitiesResponse__Output,
} from '../../csi/v1/NodeGetCapabilitiesResponse';
import type {
  NodeGetInfoRequest as _csi_v1_NodeGetInfoRequest,
  NodeGetInfoRequest__Output as _csi_v1_NodeGetInfoRequest__Output,
} from '../../csi/v1/NodeGetInfoRequest';
import type {
  NodeGetInfoResponse as _csi_v1_NodeGetInfoResponse,
  NodeGetInfoResponse__Output as _csi_v1_NodeGetInfoResponse__Output,
} from '../../csi/v1/NodeGetInfoResponse';
import type {
  NodePublishVolumeRequest as _csi_v1_NodePublishVolumeRequest,
  NodePublishVolumeRequest__Output as _csi_v1_NodePublishVolumeRequest__Output,
} from '../../csi/v1/NodePublishVolumeRequest';
import type {
  NodePublishVolumeResponse as _csi_v1_NodePublishVolumeResponse,
  NodePublishVolumeResponse__Output as _csi_v1_NodePublishVolumeResponse__Output,
} from '../../csi/v1/NodePublishVolumeResponse';
import type {
  NodeUnpublishVolumeRequest as _csi_v1_NodeUnpublishVolumeRequest,
  NodeUnpublishVolumeRequest__Output as _csi_v1_NodeUnpublishVolumeRequest__Output,
} from '../../csi/v1/NodeUnpublishVolumeRequest';
import type {
  NodeUnpublishVolumeResponse as _csi_v1_NodeUnpublishVolumeResponse,
  NodeUnpublishVolumeResponse__Output as _csi_v1_NodeUnpublishVolumeResponse__Output,
} from '../../csi/v1/NodeUnpublishVolumeResponse';

export interface NodeClient extends grpc.Client {
  NodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetCapabilities(
    argument: _csi_v1_NodeGetCapabilitiesRequest,
    callback: grpc.requestCallback<_csi_v1_NodeGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;

  NodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeGetInfo(
    argument: _csi_v1_NodeGetInfoRequest,
    callback: grpc.requestCallback<_csi_v1_NodeGetInfoResponse__Output>,
  ): grpc.ClientUnaryCall;

  NodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodePublishVolume(
    argument: _csi_v1_NodePublishVolumeRequest,
    callback: grpc.requestCallback<_csi_v1_NodePublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;

  NodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  NodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
  nodeUnpublishVolume(
    argument: _csi_v1_NodeUnpublishVolumeRequest,
    callback: grpc.requestCallback<_csi_v1_NodeUnpublishVolumeResponse__Output>,
  ): grpc.ClientUnaryCall;
}

export interface NodeHandlers extends grpc.UntypedServiceImplementation {
  NodeGetCapabilities: grpc.handleUnaryCall<
    _csi_v1_NodeGetCapabilitiesRequest__Output,
    _csi_v1_NodeGetCapabilitiesResponse
  >;

  NodeGetInfo: grpc.handleUnaryCall<_csi_v1_NodeGetInfoRequest__Output, _csi_v1_NodeGetInfoResponse>;

  NodePublishVolume: grpc.handleUnaryCall<
    _csi_v1_NodePublishVolumeRequest__Output,
    _csi_v1_NodePublishVolumeResponse
  >;

  NodeUnpublishVolume: grpc.handleUnaryCall<
    _csi_v1_NodeUnpublishVolumeRequest__Output,
    _csi_v1_NodeUnpublishVolumeResponse
  >;
}

export interface NodeDefinition extends grpc.ServiceDefinition {
  NodeGetCapabilities: MethodDefinition<
    _csi_v1_NodeGetCapabilitiesRequest,
    _csi_v1_NodeGetCapabilitiesResponse,
    _csi_v1_NodeGetCapabilitiesRequest__Output,
    _csi_v1_NodeGetCapabilitiesResponse__Output
  >;
  NodeGetInfo: MethodDefinition<
    _csi_v1_NodeGetInfoRequest,
    _csi_v1_NodeGetInfoResponse,
    _csi_v1_NodeGetInfoRequest__Output,
    _csi_v1_NodeGetInfoResponse__Output
  >;
  NodePublishVolume: MethodDefinition<
    _csi_v1_NodePublishVolumeRequest,
    _csi_v1_NodePublishVolumeResponse,
    _csi_v1_NodePublishVolumeRequest__Output,
    _csi_v1_NodePublishVolumeResponse__Output
  >;
  NodeUnpublishVolume: MethodDefinition<
    _csi_v1_NodeUnpublishVolumeRequest,
    _csi_v1_NodeUnpublishVolumeResponse,
    _csi_v1_NodeUnpublishVolumeRequest__Output,
    _csi_v1_NodeUnpublishVolumeResponse__Output
  >;
}
