package cli

import (
	"context"
	"flag"
	"io"

	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"

	"github.com/lanyard-dev/lanyard/internal/command"
)

// The `localauthority wit` commands: forced rotation of WIT-SVID keys, as for JWT keys.

func witShow(*flag.FlagSet) call {
	return call{Do: command.Send("localauthority wit show", func(ctx context.Context, cl *client) (*localauthorityv1.GetWITAuthorityStateResponse, error) {
		return cl.authorities.GetWITAuthorityState(ctx, &localauthorityv1.GetWITAuthorityStateRequest{})
	}, func(w io.Writer, r *localauthorityv1.GetWITAuthorityStateResponse) {
		printStates(w, "WIT", r.Active, r.Prepared, r.Old)
	})}
}

func witPrepare(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority wit prepare", "Prepared WIT authority:", false,
		func(ctx context.Context, cl *client, _ string) (*localauthorityv1.PrepareWITAuthorityResponse, error) {
			return cl.authorities.PrepareWITAuthority(ctx, &localauthorityv1.PrepareWITAuthorityRequest{})
		}, (*localauthorityv1.PrepareWITAuthorityResponse).GetPreparedAuthority)
}

func witActivate(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority wit activate", "Activated WIT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.ActivateWITAuthorityResponse, error) {
			return cl.authorities.ActivateWITAuthority(ctx, &localauthorityv1.ActivateWITAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.ActivateWITAuthorityResponse).GetActivatedAuthority)
}

func witTaint(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority wit taint", "Tainted WIT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.TaintWITAuthorityResponse, error) {
			return cl.authorities.TaintWITAuthority(ctx, &localauthorityv1.TaintWITAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.TaintWITAuthorityResponse).GetTaintedAuthority)
}

func witRevoke(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority wit revoke", "Revoked WIT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.RevokeWITAuthorityResponse, error) {
			return cl.authorities.RevokeWITAuthority(ctx, &localauthorityv1.RevokeWITAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.RevokeWITAuthorityResponse).GetRevokedAuthority)
}
