// Command workload is a demo and test workload built on the go-spiffe SDK. It gets its
// identity only from the Workload API (SPIFFE_ENDPOINT_SOCKET) and does mTLS with spiffetls.
//
//	workload serve -addr 127.0.0.1:9443 -allow spiffe://example.org/client
//	workload dial  -addr 127.0.0.1:9443 -expect spiffe://example.org/server -message hello
//	workload watch                      # per X.509 update: "update ID=serial...", "issuers ID=CA-SKI...", "authorities SKI..."
//	workload x509                       # fetches the X.509-SVIDs once and prints their SPIFFE IDs
//	workload jwt -audience A            # prints a JWT-SVID
//	workload wit -audience A            # prints a WIT-SVID and a proof of possession for A
//	workload witverify -audience A -wit W -proof P   # prints "valid <id>" (FetchWITBundles)
//	workload validate -audience A -token T
//	workload bundles                    # prints "x509 TD..." and "jwt TD..." (FetchX509Bundles, FetchJWTBundles)
//	workload hold -n 10000              # opens and holds N idle Workload API connections
//	workload serve-files|dial-files     # serve and dial with only a pod certificate's files (files.go)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload serve|dial|watch|x509|jwt|validate|wit|witverify|bundles|hold [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "dial":
		err = dial(ctx, os.Args[2:])
	case "watch":
		err = watch(ctx)
	case "x509":
		err = fetchX509(ctx)
	case "jwt":
		err = fetchJWT(ctx, os.Args[2:])
	case "validate":
		err = validate(ctx, os.Args[2:])
	case "wit":
		err = fetchWIT(ctx, os.Args[2:])
	case "witverify":
		err = verifyWIT(ctx, os.Args[2:])
	case "bundles":
		err = bundles(ctx)
	case "hold":
		err = hold(ctx, os.Args[2:])
	case "serve-files":
		err = serveFiles(ctx, os.Args[2:])
	case "dial-files":
		err = dialFiles(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9443", "listen address")
	allow := fs.String("allow", "", "SPIFFE ID of the only client to accept")
	_ = fs.Parse(args)
	id, err := spiffeid.FromString(*allow)
	if err != nil {
		return fmt.Errorf("-allow: %w", err)
	}
	ln, err := spiffetls.Listen(ctx, "tcp", *addr, tlsconfig.AuthorizeID(id))
	if err != nil {
		return err
	}
	return serveConns(ctx, ln, func(c net.Conn) net.Conn { return c })
}

// serveConns answers each connection ln accepts (as wrap makes it) until ctx ends.
func serveConns(ctx context.Context, ln net.Listener, wrap func(net.Conn) net.Conn) error {
	go func() { <-ctx.Done(); ln.Close() }()
	fmt.Println("listening on", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go handle(wrap(conn))
	}
}

func handle(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fmt.Println("handshake or read failed:", err)
		return
	}
	peer, _ := spiffetls.PeerIDFromConn(conn)
	fmt.Printf("request from %s: %s\n", peer, strings.TrimSpace(line))
	fmt.Fprintf(conn, "hello %s, this is the server\n", peer)
}

func dial(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dial", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9443", "server address")
	expect := fs.String("expect", "", "SPIFFE ID the server must present")
	msg := fs.String("message", "hello", "message to send")
	_ = fs.Parse(args)
	id, err := spiffeid.FromString(*expect)
	if err != nil {
		return fmt.Errorf("-expect: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := spiffetls.Dial(ctx, "tcp", *addr, tlsconfig.AuthorizeID(id))
	if err != nil {
		return fmt.Errorf("mTLS dial: %w", err)
	}
	defer conn.Close()
	fmt.Fprintln(conn, *msg)
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading reply: %w", err)
	}
	fmt.Print("reply: ", reply)
	return nil
}

// watch prints every X.509 update as "update <id>=<serial> ..." or "lost <error>".
func watch(ctx context.Context) error {
	c, err := workloadapi.New(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.WatchX509Context(ctx, printer{})
}

type printer struct{}

func (printer) OnX509ContextUpdate(x *workloadapi.X509Context) {
	parts := []string{"update"}
	for _, s := range x.SVIDs {
		parts = append(parts, fmt.Sprintf("%s=%s", s.ID, s.Certificates[0].SerialNumber))
	}
	fmt.Println(strings.Join(parts, " "))
	if len(x.SVIDs) == 0 {
		return // the last line stays "update": tests look for it
	}
	// Which CA signed each SVID, and the CAs the workload trusts: forced rotation moves both.
	issuers, cas := []string{"issuers"}, []string{"authorities"}
	for _, s := range x.SVIDs {
		issuers = append(issuers, fmt.Sprintf("%s=%x", s.ID, s.Certificates[0].AuthorityKeyId))
	}
	if b, err := x.Bundles.GetX509BundleForTrustDomain(x.SVIDs[0].ID.TrustDomain()); err == nil {
		for _, c := range b.X509Authorities() {
			cas = append(cas, fmt.Sprintf("%x", c.SubjectKeyId))
		}
	}
	fmt.Println(strings.Join(issuers, " "))
	fmt.Println(strings.Join(cas, " "))
}

func (printer) OnX509ContextWatchError(err error) {
	if !errors.Is(err, context.Canceled) {
		fmt.Println("lost", err)
	}
}

// fetchX509 prints "svid <id>" for every X.509-SVID the caller is entitled to.
func fetchX509(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	svids, err := workloadapi.FetchX509SVIDs(ctx)
	if err != nil {
		return err
	}
	for _, s := range svids {
		fmt.Println("svid", s.ID)
	}
	return nil
}

func fetchJWT(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("jwt", flag.ExitOnError)
	aud := fs.String("audience", "", "audience")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	svid, err := workloadapi.FetchJWTSVID(ctx, jwtsvid.Params{Audience: *aud})
	if err != nil {
		return err
	}
	fmt.Println(svid.Marshal())
	return nil
}

func validate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ExitOnError)
	aud := fs.String("audience", "", "audience")
	token := fs.String("token", "", "JWT-SVID")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	svid, err := workloadapi.ValidateJWTSVID(ctx, *token, *aud)
	if err != nil {
		return err
	}
	fmt.Println("valid", svid.ID)
	return nil
}

// bundles prints the trust domains of the X.509 and JWT bundles the workload gets, sorted.
func bundles(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	x509Set, err := workloadapi.FetchX509Bundles(ctx)
	if err != nil {
		return fmt.Errorf("FetchX509Bundles: %w", err)
	}
	jwtSet, err := workloadapi.FetchJWTBundles(ctx)
	if err != nil {
		return fmt.Errorf("FetchJWTBundles: %w", err)
	}
	line := func(kind string, tds []spiffeid.TrustDomain) {
		names := make([]string, len(tds))
		for i, td := range tds {
			names[i] = td.Name()
		}
		sort.Strings(names)
		fmt.Println(strings.TrimSpace(kind + " " + strings.Join(names, " ")))
	}
	var xs, js []spiffeid.TrustDomain
	for _, b := range x509Set.Bundles() {
		xs = append(xs, b.TrustDomain())
	}
	for _, b := range jwtSet.Bundles() {
		js = append(js, b.TrustDomain())
	}
	line("x509", xs)
	line("jwt", js)
	return nil
}
