package api

import (
	agentv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/agent/v1"
	bundlev1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/bundle/v1"
	debugv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/debug/v1"
	entryv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/entry/v1"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	loggerv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/logger/v1"
	svidv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/svid/v1"
	trustdomainv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/trustdomain/v1"
	"google.golang.org/grpc/health/grpc_health_v1"

	syncv1 "github.com/lanyard-dev/lanyard/proto/lanyard/agent/v1"
)

// ServerPolicies is who may call which of lanyard-server's methods, on both gRPC servers.
// A method that is not listed is denied to everybody.
var ServerPolicies = Policies{
	agentv1.Agent_CountAgents_FullMethodName:     AdminOnly,
	agentv1.Agent_ListAgents_FullMethodName:      AdminOnly,
	agentv1.Agent_GetAgent_FullMethodName:        AdminOnly,
	agentv1.Agent_DeleteAgent_FullMethodName:     AdminOnly,
	agentv1.Agent_BanAgent_FullMethodName:        AdminOnly,
	agentv1.Agent_AttestAgent_FullMethodName:     AnyCaller,
	agentv1.Agent_RenewAgent_FullMethodName:      AgentOnly,
	agentv1.Agent_CreateJoinToken_FullMethodName: AdminOnly,
	agentv1.Agent_PostStatus_FullMethodName:      AgentOnly,

	bundlev1.Bundle_CountBundles_FullMethodName:               AdminOnly,
	bundlev1.Bundle_GetBundle_FullMethodName:                  AnyCaller,
	bundlev1.Bundle_AppendBundle_FullMethodName:               AdminOnly,
	bundlev1.Bundle_ListFederatedBundles_FullMethodName:       AdminOnly,
	bundlev1.Bundle_GetFederatedBundle_FullMethodName:         AdminOrAgent,
	bundlev1.Bundle_BatchCreateFederatedBundle_FullMethodName: AdminOnly,
	bundlev1.Bundle_BatchUpdateFederatedBundle_FullMethodName: AdminOnly,
	bundlev1.Bundle_BatchSetFederatedBundle_FullMethodName:    AdminOnly,
	bundlev1.Bundle_BatchDeleteFederatedBundle_FullMethodName: AdminOnly,

	entryv1.Entry_CountEntries_FullMethodName:          AdminOnly,
	entryv1.Entry_ListEntries_FullMethodName:           AdminOnly,
	entryv1.Entry_GetEntry_FullMethodName:              AdminOnly,
	entryv1.Entry_BatchCreateEntry_FullMethodName:      AdminOnly,
	entryv1.Entry_BatchUpdateEntry_FullMethodName:      AdminOnly,
	entryv1.Entry_BatchDeleteEntry_FullMethodName:      AdminOnly,
	entryv1.Entry_GetAuthorizedEntries_FullMethodName:  AgentOnly,
	entryv1.Entry_SyncAuthorizedEntries_FullMethodName: AgentOnly,

	svidv1.SVID_MintX509SVID_FullMethodName:     AdminOnly,
	svidv1.SVID_MintJWTSVID_FullMethodName:      AdminOnly,
	svidv1.SVID_BatchNewX509SVID_FullMethodName: AgentOnly,
	svidv1.SVID_NewJWTSVID_FullMethodName:       AgentOnly,
	svidv1.SVID_MintWITSVID_FullMethodName:      AdminOnly,
	svidv1.SVID_BatchNewWITSVID_FullMethodName:  AgentOnly,

	trustdomainv1.TrustDomain_ListFederationRelationships_FullMethodName:       AdminOnly,
	trustdomainv1.TrustDomain_GetFederationRelationship_FullMethodName:         AdminOnly,
	trustdomainv1.TrustDomain_BatchCreateFederationRelationship_FullMethodName: AdminOnly,
	trustdomainv1.TrustDomain_BatchUpdateFederationRelationship_FullMethodName: AdminOnly,
	trustdomainv1.TrustDomain_BatchDeleteFederationRelationship_FullMethodName: AdminOnly,
	trustdomainv1.TrustDomain_RefreshBundle_FullMethodName:                     AdminOnly,

	syncv1.EntrySync_Watch_FullMethodName: AgentOnly,

	debugv1.Debug_GetInfo_FullMethodName: AdminOnly,

	localauthorityv1.LocalAuthority_GetJWTAuthorityState_FullMethodName:        AdminOnly,
	localauthorityv1.LocalAuthority_PrepareJWTAuthority_FullMethodName:         AdminOnly,
	localauthorityv1.LocalAuthority_ActivateJWTAuthority_FullMethodName:        AdminOnly,
	localauthorityv1.LocalAuthority_TaintJWTAuthority_FullMethodName:           AdminOnly,
	localauthorityv1.LocalAuthority_RevokeJWTAuthority_FullMethodName:          AdminOnly,
	localauthorityv1.LocalAuthority_GetWITAuthorityState_FullMethodName:        AdminOnly,
	localauthorityv1.LocalAuthority_PrepareWITAuthority_FullMethodName:         AdminOnly,
	localauthorityv1.LocalAuthority_ActivateWITAuthority_FullMethodName:        AdminOnly,
	localauthorityv1.LocalAuthority_TaintWITAuthority_FullMethodName:           AdminOnly,
	localauthorityv1.LocalAuthority_RevokeWITAuthority_FullMethodName:          AdminOnly,
	localauthorityv1.LocalAuthority_GetX509AuthorityState_FullMethodName:       AdminOnly,
	localauthorityv1.LocalAuthority_PrepareX509Authority_FullMethodName:        AdminOnly,
	localauthorityv1.LocalAuthority_ActivateX509Authority_FullMethodName:       AdminOnly,
	localauthorityv1.LocalAuthority_TaintX509Authority_FullMethodName:          AdminOnly,
	localauthorityv1.LocalAuthority_TaintX509UpstreamAuthority_FullMethodName:  AdminOnly,
	localauthorityv1.LocalAuthority_RevokeX509Authority_FullMethodName:         AdminOnly,
	localauthorityv1.LocalAuthority_RevokeX509UpstreamAuthority_FullMethodName: AdminOnly,

	loggerv1.Logger_GetLogger_FullMethodName:     AdminOnly,
	loggerv1.Logger_SetLogLevel_FullMethodName:   AdminOnly,
	loggerv1.Logger_ResetLogLevel_FullMethodName: AdminOnly,

	grpc_health_v1.Health_Check_FullMethodName: AnyCaller,
	grpc_health_v1.Health_Watch_FullMethodName: AnyCaller,
	grpc_health_v1.Health_List_FullMethodName:  AnyCaller,
}
