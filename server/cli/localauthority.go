package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lanyard-dev/lanyard/internal/command"
	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"google.golang.org/protobuf/proto"
)

// The localauthority and upstreamauthority commands print what SPIRE's do, so that
// runbooks written for SPIRE read the same against Lanyard.

func x509Show(*flag.FlagSet) call {
	return call{Do: command.Send("localauthority x509 show", func(ctx context.Context, cl *client) (*localauthorityv1.GetX509AuthorityStateResponse, error) {
		return cl.authorities.GetX509AuthorityState(ctx, &localauthorityv1.GetX509AuthorityStateRequest{})
	}, func(w io.Writer, r *localauthorityv1.GetX509AuthorityStateResponse) {
		printStates(w, "X.509", r.Active, r.Prepared, r.Old)
	})}
}

func jwtShow(*flag.FlagSet) call {
	return call{Do: command.Send("localauthority jwt show", func(ctx context.Context, cl *client) (*localauthorityv1.GetJWTAuthorityStateResponse, error) {
		return cl.authorities.GetJWTAuthorityState(ctx, &localauthorityv1.GetJWTAuthorityStateRequest{})
	}, func(w io.Writer, r *localauthorityv1.GetJWTAuthorityStateResponse) {
		printStates(w, "JWT", r.Active, r.Prepared, r.Old)
	})}
}

func x509Prepare(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority x509 prepare", "Prepared X.509 authority:", false,
		func(ctx context.Context, cl *client, _ string) (*localauthorityv1.PrepareX509AuthorityResponse, error) {
			return cl.authorities.PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{})
		}, (*localauthorityv1.PrepareX509AuthorityResponse).GetPreparedAuthority)
}

func jwtPrepare(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority jwt prepare", "Prepared JWT authority:", false,
		func(ctx context.Context, cl *client, _ string) (*localauthorityv1.PrepareJWTAuthorityResponse, error) {
			return cl.authorities.PrepareJWTAuthority(ctx, &localauthorityv1.PrepareJWTAuthorityRequest{})
		}, (*localauthorityv1.PrepareJWTAuthorityResponse).GetPreparedAuthority)
}

func x509Activate(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority x509 activate", "Activated X.509 authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.ActivateX509AuthorityResponse, error) {
			return cl.authorities.ActivateX509Authority(ctx, &localauthorityv1.ActivateX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.ActivateX509AuthorityResponse).GetActivatedAuthority)
}

func jwtActivate(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority jwt activate", "Activated JWT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.ActivateJWTAuthorityResponse, error) {
			return cl.authorities.ActivateJWTAuthority(ctx, &localauthorityv1.ActivateJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.ActivateJWTAuthorityResponse).GetActivatedAuthority)
}

func x509Taint(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority x509 taint", "Tainted X.509 authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.TaintX509AuthorityResponse, error) {
			return cl.authorities.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.TaintX509AuthorityResponse).GetTaintedAuthority)
}

func jwtTaint(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority jwt taint", "Tainted JWT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.TaintJWTAuthorityResponse, error) {
			return cl.authorities.TaintJWTAuthority(ctx, &localauthorityv1.TaintJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.TaintJWTAuthorityResponse).GetTaintedAuthority)
}

func x509Revoke(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority x509 revoke", "Revoked X.509 authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.RevokeX509AuthorityResponse, error) {
			return cl.authorities.RevokeX509Authority(ctx, &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.RevokeX509AuthorityResponse).GetRevokedAuthority)
}

func jwtRevoke(fs *flag.FlagSet) call {
	return authorityCall(fs, "localauthority jwt revoke", "Revoked JWT authority:", true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.RevokeJWTAuthorityResponse, error) {
			return cl.authorities.RevokeJWTAuthority(ctx, &localauthorityv1.RevokeJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.RevokeJWTAuthorityResponse).GetRevokedAuthority)
}

func upstreamTaint(fs *flag.FlagSet) call {
	ski := skiFlag(fs, "taint")
	return call{Do: command.Send("upstreamauthority taint", func(ctx context.Context, cl *client) (*localauthorityv1.TaintX509UpstreamAuthorityResponse, error) {
		return cl.authorities.TaintX509UpstreamAuthority(ctx, &localauthorityv1.TaintX509UpstreamAuthorityRequest{SubjectKeyId: *ski})
	}, func(w io.Writer, r *localauthorityv1.TaintX509UpstreamAuthorityResponse) {
		fmt.Fprintf(w, "Tainted X.509 upstream authority:\n  Subject Key ID: %s\n", r.UpstreamAuthoritySubjectKeyId)
	})}
}

func upstreamRevoke(fs *flag.FlagSet) call {
	ski := skiFlag(fs, "revoke")
	return call{Do: command.Send("upstreamauthority revoke", func(ctx context.Context, cl *client) (*localauthorityv1.RevokeX509UpstreamAuthorityResponse, error) {
		return cl.authorities.RevokeX509UpstreamAuthority(ctx, &localauthorityv1.RevokeX509UpstreamAuthorityRequest{SubjectKeyId: *ski})
	}, func(w io.Writer, r *localauthorityv1.RevokeX509UpstreamAuthorityResponse) {
		fmt.Fprintf(w, "Revoked X.509 upstream authority:\n  Subject Key ID: %s\n", r.UpstreamAuthoritySubjectKeyId)
	})}
}

func skiFlag(fs *flag.FlagSet, verb string) *string {
	return fs.String("subjectKeyID", "", "subject key ID (hex) of the upstream X.509 authority's CA certificate to "+verb)
}

// authorityCall is a one-call command about one authority: -authorityID when withID, the
// call, and the authority the answer names, printed under title.
func authorityCall[T proto.Message](fs *flag.FlagSet, name, title string, withID bool,
	rpc func(context.Context, *client, string) (T, error), pick func(T) *localauthorityv1.AuthorityState) call {
	id := new(string)
	if withID {
		id = fs.String("authorityID", "", "authority ID: the CA certificate's subject key ID (X.509) or the key ID (JWT); see `show`")
	}
	return call{Do: command.Send(name, func(ctx context.Context, cl *client) (T, error) { return rpc(ctx, cl, *id) }, func(w io.Writer, r T) {
		fmt.Fprintf(w, "%s\n", title)
		printAuthority(w, pick(r), strings.Contains(name, "x509"))
	})}
}

func printStates(w io.Writer, kind string, active, prepared, old *localauthorityv1.AuthorityState) {
	for i, s := range []struct {
		name string
		a    *localauthorityv1.AuthorityState
	}{{"Active", active}, {"Prepared", prepared}, {"Old", old}} {
		if i > 0 {
			fmt.Fprintf(w, "\n")
		}
		fmt.Fprintf(w, "%s %s authority:\n", s.name, kind)
		if s.a == nil {
			fmt.Fprintf(w, "  No %s %s authority found\n", strings.ToLower(s.name), kind)
			continue
		}
		printAuthority(w, s.a, kind == "X.509")
	}
}

func printAuthority(w io.Writer, a *localauthorityv1.AuthorityState, x509 bool) {
	fmt.Fprintf(w, "  Authority ID: %s\n  Expires at: %s\n", a.GetAuthorityId(), time.Unix(a.GetExpiresAt(), 0).UTC())
	if !x509 {
		return
	}
	if a.GetUpstreamAuthoritySubjectKeyId() != "" {
		fmt.Fprintf(w, "  Upstream authority Subject Key ID: %s\n", a.UpstreamAuthoritySubjectKeyId)
		return
	}
	fmt.Fprintf(w, "  Upstream authority ID: No upstream authority\n")
}
