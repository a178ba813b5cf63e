// Original file: csi.proto

import type * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type {
  ControllerGetCapabilitiesRequest as _csi_v1_ControllerGetCapabilitiesRequest,
  ControllerGetCapabilitiesRequest__Output as _csi_v1_ControllerGetCapabilitiesRequest__Output,
} from '../../csi/v1/ControllerGetCapabilitiesRequest';
import type {
  ControllerGetCapabilitiesResponse as _csi_v1_ControllerGetCapabilitiesResponse,
  ControllerGetCapabilitiesResponse__Output as _csi_v1_ControllerGetCapabilitiesResponse__Output,
} from '../../csi/v1/ControllerGetCapabilitiesResponse';

export interface ControllerClient extends grpc.Client {
  ControllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  ControllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  ControllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  ControllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  controllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  controllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    metadata: grpc.Metadata,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  controllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
  controllerGetCapabilities(
    argument: _csi_v1_ControllerGetCapabilitiesRequest,
    callback: grpc.requestCallback<_csi_v1_ControllerGetCapabilitiesResponse__Output>,
  ): grpc.ClientUnaryCall;
}

export interface ControllerHandlers extends grpc.UntypedServiceImplementation {
  ControllerGetCapabilities: grpc.handleUnaryCall<
    _csi_v1_ControllerGetCapabilitiesRequest__Output,
    _csi_v1_ControllerGetCapabilitiesResponse
  >;
}

export interface ControllerDefinition extends grpc.ServiceDefinition {
  ControllerGetCapabilities: MethodDefinition<
    _csi_v1_ControllerGetCapabilitiesRequest,
    _csi_v1_ControllerGetCapabilitiesResponse,
    _csi_v1_ControllerGetCapabilitiesRequest__Output,
    _csi_v1_ControllerGetCapabilitiesResponse__Output
  >;
}
