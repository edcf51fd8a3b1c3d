package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/spiffe/go-spiffe/v2/exp/svid/witsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/lanyard-dev/lanyard/internal/witproof"
)

// fetchWIT prints the workload's WIT-SVID and, on a second line, a proof of possession
// for -audience signed with its key: what a client sends with a request.
func fetchWIT(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wit", flag.ExitOnError)
	aud := fs.String("audience", "", "the request's audience")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := workloadapi.New(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	svid, err := c.FetchWITSVID(ctx, "")
	if err != nil {
		return fmt.Errorf("FetchWITSVID: %w", err)
	}
	proof, err := witproof.Sign(svid, *aud, time.Now())
	if err != nil {
		return err
	}
	fmt.Println(svid.Marshal())
	fmt.Println(proof)
	return nil
}

// verifyWIT is the receiving side: the WIT-SVID must verify against the WIT bundles from
// the Workload API and the proof against its cnf.jwk; it prints "valid <SPIFFE ID>".
func verifyWIT(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("witverify", flag.ExitOnError)
	aud := fs.String("audience", "", "this service's audience")
	token := fs.String("wit", "", "WIT-SVID")
	proof := fs.String("proof", "", "proof of possession")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := workloadapi.New(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	bundles, err := c.FetchWITBundles(ctx)
	if err != nil {
		return fmt.Errorf("FetchWITBundles: %w", err)
	}
	svid, err := witsvid.ParseAndValidate(*token, bundles)
	if err != nil {
		return err
	}
	if err := witproof.Verify(*proof, svid, *aud, time.Now()); err != nil {
		return err
	}
	fmt.Println("valid", svid.ID)
	return nil
}
