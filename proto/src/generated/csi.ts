import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type {
  ControllerClient as _csi_v1_ControllerClient,
  ControllerDefinition as _csi_v1_ControllerDefinition,
} from './csi/v1/Controller';
import type {
  ControllerGetCapabilitiesRequest as _csi_v1_ControllerGetCapabilitiesRequest,
  ControllerGetCapabilitiesRequest__Output as _csi_v1_ControllerGetCapabilitiesRequest__Output,
} from './csi/v1/ControllerGetCapabilitiesRequest';
import type {
  ControllerGetCapabilitiesResponse as _csi_v1_ControllerGetCapabilitiesResponse,
  ControllerGetCapabilitiesResponse__Output as _csi_v1_ControllerGetCapabilitiesResponse__Output,
} from './csi/v1/ControllerGetCapabilitiesResponse';
import type {
  ControllerServiceCapability as _csi_v1_ControllerServiceCapability,
  ControllerServiceCapability__Output as _csi_v1_ControllerServiceCapability__Output,
} from './csi/v1/ControllerServiceCapability';
import type {
  GetPluginCapabilitiesRequest as _csi_v1_GetPluginCapabilitiesRequest,
  GetPluginCapabilitiesRequest__Output as _csi_v1_GetPluginCapabilitiesRequest__Output,
} from './csi/v1/GetPluginCapabilitiesRequest';
import type {
  GetPluginCapabilitiesResponse as _csi_v1_GetPluginCapabilitiesResponse,
  GetPluginCapabilitiesResponse__Output as _csi_v1_GetPluginCapabilitiesResponse__Output,
} from './csi/v1/GetPluginCapabilitiesResponse';
import type {
  GetPluginInfoRequest as _csi_v1_GetPluginInfoRequest,
  GetPluginInfoRequest__Output as _csi_v1_GetPluginInfoRequest__Output,
} from './csi/v1/GetPluginInfoRequest';
import type {
  GetPluginInfoResponse as _csi_v1_GetPluginInfoResponse,
  GetPluginInfoResponse__Output as _csi_v1_GetPluginInfoResponse__Output,
} from './csi/v1/GetPluginInfoResponse';
import type {
  IdentityClient as _csi_v1_IdentityClient,
  IdentityDefinition as _csi_v1_IdentityDefinition,
} from './csi/v1/Identity';
import type {
  NodeClient as _csi_v1_NodeClient,
  NodeDefinition as _csi_v1_NodeDefinition,
} from './csi/v1/Node';
import type {
  NodeGetCapabilitiesRequest as _csi_v1_NodeGetCapabilitiesRequest,
  NodeGetCapabilitiesRequest__Output as _csi_v1_NodeGetCapabilitiesRequest__Output,
} from './csi/v1/NodeGetCapabilitiesRequest';
import type {
  NodeGetCapabilitiesResponse as _csi_v1_NodeGetCapabilitiesResponse,
  NodeGetCapabilitiesResponse__Output as _csi_v1_NodeGetCapabilitiesResponse__Output,
} from './csi/v1/NodeGetCapabilitiesResponse';
import type {
  NodeGetInfoRequest as _csi_v1_NodeGetInfoRequest,
  NodeGetInfoRequest__Output as _csi_v1_NodeGetInfoRequest__Output,
} from './csi/v1/NodeGetInfoRequest';
import type {
  NodeGetInfoResponse as _csi_v1_NodeGetInfoResponse,
  NodeGetInfoResponse__Output as _csi_v1_NodeGetInfoResponse__Output,
} from './csi/v1/NodeGetInfoResponse';
import type {
  NodePublishVolumeRequest as _csi_v1_NodePublishVolumeRequest,
  NodePublishVolumeRequest__Output as _csi_v1_NodePublishVolumeRequest__Output,
} from './csi/v1/NodePublishVolumeRequest';
import type {
  NodePublishVolumeResponse as _csi_v1_NodePublishVolumeResponse,
  NodePublishVolumeResponse__Output as _csi_v1_NodePublishVolumeResponse__Output,
} from './csi/v1/NodePublishVolumeResponse';
import type {
  NodeServiceCapability as _csi_v1_NodeServiceCapability,
  NodeServiceCapability__Output as _csi_v1_NodeServiceCapability__Output,
} from './csi/v1/NodeServiceCapability';
import type {
  NodeUnpublishVolumeRequest as _csi_v1_NodeUnpublishVolumeRequest,
  NodeUnpublishVolumeRequest__Output as _csi_v1_NodeUnpublishVolumeRequest__Output,
} from './csi/v1/NodeUnpublishVolumeRequest';
import type {
  NodeUnpublishVolumeResponse as _csi_v1_NodeUnpublishVolumeResponse,
  NodeUnpublishVolumeResponse__Output as _csi_v1_NodeUnpublishVolumeResponse__Output,
} from './csi/v1/NodeUnpublishVolumeResponse';
import type {
  PluginCapability as _csi_v1_PluginCapability,
  PluginCapability__Output as _csi_v1_PluginCapability__Output,
} from './csi/v1/PluginCapability';
import type {
  ProbeRequest as _csi_v1_ProbeRequest,
  ProbeRequest__Output as _csi_v1_ProbeRequest__Output,
} from './csi/v1/ProbeRequest';
import type {
  ProbeResponse as _csi_v1_ProbeResponse,
  ProbeResponse__Output as _csi_v1_ProbeResponse__Output,
} from './csi/v1/ProbeResponse';
import type {
  Topology as _csi_v1_Topology,
  Topology__Output as _csi_v1_Topology__Output,
} from './csi/v1/Topology';
import type {
  VolumeCapability as _csi_v1_VolumeCapability,
  VolumeCapability__Output as _csi_v1_VolumeCapability__Output,
} from './csi/v1/VolumeCapability';
import type {
  BoolValue as _google_protobuf_BoolValue,
  BoolValue__Output as _google_protobuf_BoolValue__Output,
} from './google/protobuf/BoolValue';
import type {
  BytesValue as _google_protobuf_BytesValue,
  BytesValue__Output as _google_protobuf_BytesValue__Output,
} from './google/protobuf/BytesValue';
import type {
  DoubleValue as _google_protobuf_DoubleValue,
  DoubleValue__Output as _google_protobuf_DoubleValue__Output,
} from './google/protobuf/DoubleValue';
import type {
  FloatValue as _google_protobuf_FloatValue,
  FloatValue__Output as _google_protobuf_FloatValue__Output,
} from './google/protobuf/FloatValue';
import type {
  Int32Value as _google_protobuf_Int32Value,
  Int32Value__Output as _google_protobuf_Int32Value__Output,
} from './google/protobuf/Int32Value';
import type {
  Int64Value as _google_protobuf_Int64Value,
  Int64Value__Output as _google_protobuf_Int64Value__Output,
} from './google/protobuf/Int64Value';
import type {
  StringValue as _google_protobuf_StringValue,
  StringValue__Output as _google_protobuf_StringValue__Output,
} from './google/protobuf/StringValue';
import type {
  UInt32Value as _google_protobuf_UInt32Value,
  UInt32Value__Output as _google_protobuf_UInt32Value__Output,
} from './google/protobuf/UInt32Value';
import type {
  UInt64Value as _google_protobuf_UInt64Value,
  UInt64Value__Output as _google_protobuf_UInt64Value__Output,
} from './google/protobuf/UInt64Value';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new (...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  csi: {
    v1: {
      Controller: SubtypeConstructor<typeof grpc.Client, _csi_v1_ControllerClient> & {
        service: _csi_v1_ControllerDefinition;
      };
      ControllerGetCapabilitiesRequest: MessageTypeDefinition<
        _csi_v1_ControllerGetCapabilitiesRequest,
        _csi_v1_ControllerGetCapabilitiesRequest__Output
      >;
      ControllerGetCapabilitiesResponse: MessageTypeDefinition<
        _csi_v1_ControllerGetCapabilitiesResponse,
        _csi_v1_ControllerGetCapabilitiesResponse__Output
      >;
      ControllerServiceCapability: MessageTypeDefinition<
        _csi_v1_ControllerServiceCapability,
        _csi_v1_ControllerServiceCapability__Output
      >;
      GetPluginCapabilitiesRequest: MessageTypeDefinition<
        _csi_v1_GetPluginCapabilitiesRequest,
        _csi_v1_GetPluginCapabilitiesRequest__Output
      >;
      GetPluginCapabilitiesResponse: MessageTypeDefinition<
        _csi_v1_GetPluginCapabilitiesResponse,
        _csi_v1_GetPluginCapabilitiesResponse__Output
      >;
      GetPluginInfoRequest: MessageTypeDefinition<
        _csi_v1_GetPluginInfoRequest,
        _csi_v1_GetPluginInfoRequest__Output
      >;
      GetPluginInfoResponse: MessageTypeDefinition<
        _csi_v1_GetPluginInfoResponse,
        _csi_v1_GetPluginInfoResponse__Output
      >;
      Identity: SubtypeConstructor<typeof grpc.Client, _csi_v1_IdentityClient> & {
        service: _csi_v1_IdentityDefinition;
      };
      Node: SubtypeConstructor<typeof grpc.Client, _csi_v1_NodeClient> & { service: _csi_v1_NodeDefinition };
      NodeGetCapabilitiesRequest: MessageTypeDefinition<
        _csi_v1_NodeGetCapabilitiesRequest,
        _csi_v1_NodeGetCapabilitiesRequest__Output
      >;
      NodeGetCapabilitiesResponse: MessageTypeDefinition<
        _csi_v1_NodeGetCapabilitiesResponse,
        _csi_v1_NodeGetCapabilitiesResponse__Output
      >;
      NodeGetInfoRequest: MessageTypeDefinition<
        _csi_v1_NodeGetInfoRequest,
        _csi_v1_NodeGetInfoRequest__Output
      >;
      NodeGetInfoResponse: MessageTypeDefinition<
        _csi_v1_NodeGetInfoResponse,
        _csi_v1_NodeGetInfoResponse__Output
      >;
      NodePublishVolumeRequest: MessageTypeDefinition<
        _csi_v1_NodePublishVolumeRequest,
        _csi_v1_NodePublishVolumeRequest__Output
      >;
      NodePublishVolumeResponse: MessageTypeDefinition<
        _csi_v1_NodePublishVolumeResponse,
        _csi_v1_NodePublishVolumeResponse__Output
      >;
      NodeServiceCapability: MessageTypeDefinition<
        _csi_v1_NodeServiceCapability,
        _csi_v1_NodeServiceCapability__Output
      >;
      NodeUnpublishVolumeRequest: MessageTypeDefinition<
        _csi_v1_NodeUnpublishVolumeRequest,
        _csi_v1_NodeUnpublishVolumeRequest__Output
      >;
      NodeUnpublishVolumeResponse: MessageTypeDefinition<
        _csi_v1_NodeUnpublishVolumeResponse,
        _csi_v1_NodeUnpublishVolumeResponse__Output
      >;
      PluginCapability: MessageTypeDefinition<_csi_v1_PluginCapability, _csi_v1_PluginCapability__Output>;
      ProbeRequest: MessageTypeDefinition<_csi_v1_ProbeRequest, _csi_v1_ProbeRequest__Output>;
      ProbeResponse: MessageTypeDefinition<_csi_v1_ProbeResponse, _csi_v1_ProbeResponse__Output>;
      Topology: MessageTypeDefinition<_csi_v1_Topology, _csi_v1_Topology__Output>;
      VolumeCapability: MessageTypeDefinition<_csi_v1_VolumeCapability, _csi_v1_VolumeCapability__Output>;
    };
  };
  google: {
    protobuf: {
      BoolValue: MessageTypeDefinition<_google_protobuf_BoolValue, _google_protobuf_BoolValue__Output>;
      BytesValue: MessageTypeDefinition<_google_protobuf_BytesValue, _google_protobuf_BytesValue__Output>;
      DoubleValue: MessageTypeDefinition<_google_protobuf_DoubleValue, _google_protobuf_DoubleValue__Output>;
      FloatValue: MessageTypeDefinition<_google_protobuf_FloatValue, _google_protobuf_FloatValue__Output>;
      Int32Value: MessageTypeDefinition<_google_protobuf_Int32Value, _google_protobuf_Int32Value__Output>;
      Int64Value: MessageTypeDefinition<_google_protobuf_Int64Value, _google_protobuf_Int64Value__Output>;
      StringValue: MessageTypeDefinition<_google_protobuf_StringValue, _google_protobuf_StringValue__Output>;
      UInt32Value: MessageTypeDefinition<_google_protobuf_UInt32Value, _google_protobuf_UInt32Value__Output>;
      UInt64Value: MessageTypeDefinition<_google_protobuf_UInt64Value, _google_protobuf_UInt64Value__Output>;
    };
  };
}
