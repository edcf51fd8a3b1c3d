package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	localauthorityv1 "github.com/spiffe/spire-api-sdk/proto/spire/api/server/localauthority/v1"
	"google.golang.org/protobuf/proto"
)

// The localauthority and upstreamauthority commands print what SPIRE's do, so that
// runbooks written for SPIRE read the same against Lanyard.

func x509Show(ctx context.Context, e *env, args []string) error {
	return oneCall(ctx, e, "localauthority x509 show", args, nil, func(ctx context.Context, cl *client) (*localauthorityv1.GetX509AuthorityStateResponse, error) {
		return cl.authorities.GetX509AuthorityState(ctx, &localauthorityv1.GetX509AuthorityStateRequest{})
	}, func(e *env, r *localauthorityv1.GetX509AuthorityStateResponse) {
		printStates(e, "X.509", r.Active, r.Prepared, r.Old)
	})
}

func jwtShow(ctx context.Context, e *env, args []string) error {
	return oneCall(ctx, e, "localauthority jwt show", args, nil, func(ctx context.Context, cl *client) (*localauthorityv1.GetJWTAuthorityStateResponse, error) {
		return cl.authorities.GetJWTAuthorityState(ctx, &localauthorityv1.GetJWTAuthorityStateRequest{})
	}, func(e *env, r *localauthorityv1.GetJWTAuthorityStateResponse) {
		printStates(e, "JWT", r.Active, r.Prepared, r.Old)
	})
}

func x509Prepare(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority x509 prepare", "Prepared X.509 authority:", args, false,
		func(ctx context.Context, cl *client, _ string) (*localauthorityv1.PrepareX509AuthorityResponse, error) {
			return cl.authorities.PrepareX509Authority(ctx, &localauthorityv1.PrepareX509AuthorityRequest{})
		}, (*localauthorityv1.PrepareX509AuthorityResponse).GetPreparedAuthority)
}

func jwtPrepare(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority jwt prepare", "Prepared JWT authority:", args, false,
		func(ctx context.Context, cl *client, _ string) (*localauthorityv1.PrepareJWTAuthorityResponse, error) {
			return cl.authorities.PrepareJWTAuthority(ctx, &localauthorityv1.PrepareJWTAuthorityRequest{})
		}, (*localauthorityv1.PrepareJWTAuthorityResponse).GetPreparedAuthority)
}

func x509Activate(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority x509 activate", "Activated X.509 authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.ActivateX509AuthorityResponse, error) {
			return cl.authorities.ActivateX509Authority(ctx, &localauthorityv1.ActivateX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.ActivateX509AuthorityResponse).GetActivatedAuthority)
}

func jwtActivate(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority jwt activate", "Activated JWT authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.ActivateJWTAuthorityResponse, error) {
			return cl.authorities.ActivateJWTAuthority(ctx, &localauthorityv1.ActivateJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.ActivateJWTAuthorityResponse).GetActivatedAuthority)
}

func x509Taint(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority x509 taint", "Tainted X.509 authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.TaintX509AuthorityResponse, error) {
			return cl.authorities.TaintX509Authority(ctx, &localauthorityv1.TaintX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.TaintX509AuthorityResponse).GetTaintedAuthority)
}

func jwtTaint(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority jwt taint", "Tainted JWT authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.TaintJWTAuthorityResponse, error) {
			return cl.authorities.TaintJWTAuthority(ctx, &localauthorityv1.TaintJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.TaintJWTAuthorityResponse).GetTaintedAuthority)
}

func x509Revoke(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority x509 revoke", "Revoked X.509 authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.RevokeX509AuthorityResponse, error) {
			return cl.authorities.RevokeX509Authority(ctx, &localauthorityv1.RevokeX509AuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.RevokeX509AuthorityResponse).GetRevokedAuthority)
}

func jwtRevoke(ctx context.Context, e *env, args []string) error {
	return authorityCall(ctx, e, "localauthority jwt revoke", "Revoked JWT authority:", args, true,
		func(ctx context.Context, cl *client, id string) (*localauthorityv1.RevokeJWTAuthorityResponse, error) {
			return cl.authorities.RevokeJWTAuthority(ctx, &localauthorityv1.RevokeJWTAuthorityRequest{AuthorityId: id})
		}, (*localauthorityv1.RevokeJWTAuthorityResponse).GetRevokedAuthority)
}

func upstreamTaint(ctx context.Context, e *env, args []string) error {
	var ski string
	return oneCall(ctx, e, "upstreamauthority taint", args, skiFlag(&ski, "taint"),
		func(ctx context.Context, cl *client) (*localauthorityv1.TaintX509UpstreamAuthorityResponse, error) {
			return cl.authorities.TaintX509UpstreamAuthority(ctx, &localauthorityv1.TaintX509UpstreamAuthorityRequest{SubjectKeyId: ski})
		}, func(e *env, r *localauthorityv1.TaintX509UpstreamAuthorityResponse) {
			fmt.Fprintf(e.stdout, "Tainted X.509 upstream authority:\n  Subject Key ID: %s\n", r.UpstreamAuthoritySubjectKeyId)
		})
}

func upstreamRevoke(ctx context.Context, e *env, args []string) error {
	var ski string
	return oneCall(ctx, e, "upstreamauthority revoke", args, skiFlag(&ski, "revoke"),
		func(ctx context.Context, cl *client) (*localauthorityv1.RevokeX509UpstreamAuthorityResponse, error) {
			return cl.authorities.RevokeX509UpstreamAuthority(ctx, &localauthorityv1.RevokeX509UpstreamAuthorityRequest{SubjectKeyId: ski})
		}, func(e *env, r *localauthorityv1.RevokeX509UpstreamAuthorityResponse) {
			fmt.Fprintf(e.stdout, "Revoked X.509 upstream authority:\n  Subject Key ID: %s\n", r.UpstreamAuthoritySubjectKeyId)
		})
}

func skiFlag(ski *string, verb string) func(*flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.StringVar(ski, "subjectKeyID", "", "subject key ID (hex) of the upstream X.509 authority's CA certificate to "+verb)
	}
}

// authorityCall is a one-call command about one authority: -authorityID when withID, the
// call, and the authority the answer names, printed under title.
func authorityCall[T proto.Message](ctx context.Context, e *env, name, title string, args []string, withID bool,
	call func(context.Context, *client, string) (T, error), pick func(T) *localauthorityv1.AuthorityState) error {
	var id string
	var flags func(*flag.FlagSet)
	if withID {
		flags = func(fs *flag.FlagSet) {
			fs.StringVar(&id, "authorityID", "", "authority ID: the CA certificate's subject key ID (X.509) or the key ID (JWT); see `show`")
		}
	}
	return oneCall(ctx, e, name, args, flags, func(ctx context.Context, cl *client) (T, error) { return call(ctx, cl, id) },
		func(e *env, r T) {
			fmt.Fprintf(e.stdout, "%s\n", title)
			printAuthority(e, pick(r), strings.Contains(name, "x509"))
		})
}

func printStates(e *env, kind string, active, prepared, old *localauthorityv1.AuthorityState) {
	for i, s := range []struct {
		name string
		a    *localauthorityv1.AuthorityState
	}{{"Active", active}, {"Prepared", prepared}, {"Old", old}} {
		if i > 0 {
			fmt.Fprintf(e.stdout, "\n")
		}
		fmt.Fprintf(e.stdout, "%s %s authority:\n", s.name, kind)
		if s.a == nil {
			fmt.Fprintf(e.stdout, "  No %s %s authority found\n", strings.ToLower(s.name), kind)
			continue
		}
		printAuthority(e, s.a, kind == "X.509")
	}
}

func printAuthority(e *env, a *localauthorityv1.AuthorityState, x509 bool) {
	fmt.Fprintf(e.stdout, "  Authority ID: %s\n  Expires at: %s\n", a.GetAuthorityId(), time.Unix(a.GetExpiresAt(), 0).UTC())
	if !x509 {
		return
	}
	if a.GetUpstreamAuthoritySubjectKeyId() != "" {
		fmt.Fprintf(e.stdout, "  Upstream authority Subject Key ID: %s\n", a.UpstreamAuthoritySubjectKeyId)
		return
	}
	fmt.Fprintf(e.stdout, "  Upstream authority ID: No upstream authority\n")
}
