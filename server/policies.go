package server

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
	"github.com/lanyard-dev/lanyard/server/api"
)

// policies is who may call what. A method that is not listed is denied to everybody.
var policies = api.Policies{
	agentv1.Agent_CountAgents_FullMethodName:     api.AdminOnly,
	agentv1.Agent_ListAgents_FullMethodName:      api.AdminOnly,
	agentv1.Agent_GetAgent_FullMethodName:        api.AdminOnly,
	agentv1.Agent_DeleteAgent_FullMethodName:     api.AdminOnly,
	agentv1.Agent_BanAgent_FullMethodName:        api.AdminOnly,
	agentv1.Agent_AttestAgent_FullMethodName:     api.AnyCaller,
	agentv1.Agent_RenewAgent_FullMethodName:      api.AgentOnly,
	agentv1.Agent_CreateJoinToken_FullMethodName: api.AdminOnly,
	agentv1.Agent_PostStatus_FullMethodName:      api.AgentOnly,

	bundlev1.Bundle_CountBundles_FullMethodName:               api.AdminOnly,
	bundlev1.Bundle_GetBundle_FullMethodName:                  api.AnyCaller,
	bundlev1.Bundle_AppendBundle_FullMethodName:               api.AdminOnly,
	bundlev1.Bundle_ListFederatedBundles_FullMethodName:       api.AdminOnly,
	bundlev1.Bundle_GetFederatedBundle_FullMethodName:         api.AdminOrAgent,
	bundlev1.Bundle_BatchCreateFederatedBundle_FullMethodName: api.AdminOnly,
	bundlev1.Bundle_BatchUpdateFederatedBundle_FullMethodName: api.AdminOnly,
	bundlev1.Bundle_BatchSetFederatedBundle_FullMethodName:    api.AdminOnly,
	bundlev1.Bundle_BatchDeleteFederatedBundle_FullMethodName: api.AdminOnly,

	entryv1.Entry_CountEntries_FullMethodName:          api.AdminOnly,
	entryv1.Entry_ListEntries_FullMethodName:           api.AdminOnly,
	entryv1.Entry_GetEntry_FullMethodName:              api.AdminOnly,
	entryv1.Entry_BatchCreateEntry_FullMethodName:      api.AdminOnly,
	entryv1.Entry_BatchUpdateEntry_FullMethodName:      api.AdminOnly,
	entryv1.Entry_BatchDeleteEntry_FullMethodName:      api.AdminOnly,
	entryv1.Entry_GetAuthorizedEntries_FullMethodName:  api.AgentOnly,
	entryv1.Entry_SyncAuthorizedEntries_FullMethodName: api.AgentOnly,

	svidv1.SVID_MintX509SVID_FullMethodName:     api.AdminOnly,
	svidv1.SVID_MintJWTSVID_FullMethodName:      api.AdminOnly,
	svidv1.SVID_BatchNewX509SVID_FullMethodName: api.AgentOnly,
	svidv1.SVID_NewJWTSVID_FullMethodName:       api.AgentOnly,

	trustdomainv1.TrustDomain_ListFederationRelationships_FullMethodName:       api.AdminOnly,
	trustdomainv1.TrustDomain_GetFederationRelationship_FullMethodName:         api.AdminOnly,
	trustdomainv1.TrustDomain_BatchCreateFederationRelationship_FullMethodName: api.AdminOnly,
	trustdomainv1.TrustDomain_BatchUpdateFederationRelationship_FullMethodName: api.AdminOnly,
	trustdomainv1.TrustDomain_BatchDeleteFederationRelationship_FullMethodName: api.AdminOnly,
	trustdomainv1.TrustDomain_RefreshBundle_FullMethodName:                     api.AdminOnly,

	syncv1.EntrySync_Watch_FullMethodName: api.AgentOnly,

	debugv1.Debug_GetInfo_FullMethodName: api.AdminOnly,

	localauthorityv1.LocalAuthority_GetJWTAuthorityState_FullMethodName:        api.AdminOnly,
	localauthorityv1.LocalAuthority_PrepareJWTAuthority_FullMethodName:         api.AdminOnly,
	localauthorityv1.LocalAuthority_ActivateJWTAuthority_FullMethodName:        api.AdminOnly,
	localauthorityv1.LocalAuthority_TaintJWTAuthority_FullMethodName:           api.AdminOnly,
	localauthorityv1.LocalAuthority_RevokeJWTAuthority_FullMethodName:          api.AdminOnly,
	localauthorityv1.LocalAuthority_GetX509AuthorityState_FullMethodName:       api.AdminOnly,
	localauthorityv1.LocalAuthority_PrepareX509Authority_FullMethodName:        api.AdminOnly,
	localauthorityv1.LocalAuthority_ActivateX509Authority_FullMethodName:       api.AdminOnly,
	localauthorityv1.LocalAuthority_TaintX509Authority_FullMethodName:          api.AdminOnly,
	localauthorityv1.LocalAuthority_TaintX509UpstreamAuthority_FullMethodName:  api.AdminOnly,
	localauthorityv1.LocalAuthority_RevokeX509Authority_FullMethodName:         api.AdminOnly,
	localauthorityv1.LocalAuthority_RevokeX509UpstreamAuthority_FullMethodName: api.AdminOnly,

	loggerv1.Logger_GetLogger_FullMethodName:     api.AdminOnly,
	loggerv1.Logger_SetLogLevel_FullMethodName:   api.AdminOnly,
	loggerv1.Logger_ResetLogLevel_FullMethodName: api.AdminOnly,

	grpc_health_v1.Health_Check_FullMethodName: api.AnyCaller,
	grpc_health_v1.Health_Watch_FullMethodName: api.AnyCaller,
	grpc_health_v1.Health_List_FullMethodName:  api.AnyCaller,
}
