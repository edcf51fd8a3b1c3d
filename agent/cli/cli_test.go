package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-dev/lanyard/internal/health"
	"github.com/lanyard-dev/lanyard/internal/poll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/protobuf/encoding/protojson"
)

// wantOK fails the test unless the command succeeded without writing to stderr.
func wantOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(args...)
	if code != 0 || errOut != "" {
		t.Fatalf("%v: exit %d, stderr %q, stdout %q; want success", args, code, errOut, out)
	}
	return out
}

// wantError fails the test unless the command exited 1 with one stderr line starting
// "Error: " and containing want (the usage may follow it).
func wantError(t *testing.T, want string, args ...string) string {
	t.Helper()
	_, errOut, code := run(args...)
	first, _, _ := strings.Cut(errOut, "\n")
	if code != 1 || !strings.HasPrefix(first, "Error: ") || !strings.Contains(first, want) {
		t.Fatalf("%v: exit %d, stderr %q; want exit 1 and an error line containing %q", args, code, errOut, want)
	}
	return errOut
}

// The Workload API commands against a real agent, as a workload would run them.
func TestAPICommands(t *testing.T) {
	s := startStack(t)
	api := func(args ...string) []string { return append(args, "-socketPath", s.apiSock) }

	t.Run("fetch x509 prints the SVIDs this process gets", func(t *testing.T) {
		out := wantOK(t, api("api", "fetch", "x509")...)
		if !regexp.MustCompile(`^SPIFFE ID:  ` + workloadID + `\nHint:       \nExpires at: \S+Z\nReceived 1 SVID\(s\) and 1 bundle\(s\)\n$`).MatchString(out) {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("fetch x509 -output json is the Workload API's X509SVIDResponse", func(t *testing.T) {
		var resp workload.X509SVIDResponse
		if err := protojson.Unmarshal([]byte(wantOK(t, api("api", "fetch", "x509", "-output", "json")...)), &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Svids) != 1 || resp.Svids[0].SpiffeId != workloadID {
			t.Fatalf("svids %v", resp.Svids)
		}
		certs, err := x509.ParseCertificates(resp.Svids[0].X509Svid)
		if err != nil || len(certs) == 0 || certs[0].URIs[0].String() != workloadID {
			t.Fatalf("x509_svid is not the SVID's DER chain: %v", err)
		}
		key, err := x509.ParsePKCS8PrivateKey(resp.Svids[0].X509SvidKey)
		signer, ok := key.(crypto.Signer)
		if err != nil || !ok || !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(certs[0].PublicKey) {
			t.Fatalf("x509_svid_key is not the SVID's PKCS#8 key: %v", err)
		}
		roots, err := x509.ParseCertificates(resp.Svids[0].Bundle)
		if err != nil || len(roots) != len(s.bundle.X509Authorities) || !bytes.Equal(roots[0].Raw, s.bundle.X509Authorities[0].Asn1) {
			t.Fatalf("bundle is not the server's CA: %v", err)
		}
	})
	t.Run("fetch x509 -write leaves PEM files, the key 0600", func(t *testing.T) {
		dir := t.TempDir()
		wantOK(t, api("api", "fetch", "x509", "-write", dir)...)
		for name, mode := range map[string]os.FileMode{"svid.0.pem": 0o644, "svid.0.key": 0o600, "bundle.0.pem": 0o644} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil || st.Mode().Perm() != mode {
				t.Errorf("%s: %v, mode %v; want %v", name, err, st.Mode().Perm(), mode)
			}
		}
	})

	t.Run("fetch wit prints the WIT-SVID and its key; -output json adds the WIT bundles", func(t *testing.T) {
		var lines []string
		poll.Until(t, 30*time.Second, "a WIT-SVID", func() bool {
			out, _, code := run(api("api", "fetch", "wit")...)
			lines = strings.Split(strings.TrimSpace(out), "\n")
			return code == 0
		})
		if len(lines) != 2 || strings.Count(lines[0], ".") != 2 || !strings.Contains(lines[1], `"d":`) {
			t.Fatalf("fetch wit printed %q; want the token, then the private JWK", lines)
		}
		out := wantOK(t, api("api", "fetch", "wit", "-output", "json")...)
		if !strings.Contains(out, `"wit_svid_key"`) || !strings.Contains(out, `\"use\":\"wit-svid\"`) {
			t.Fatalf("fetch wit -output json: %s", out)
		}
		wantError(t, `-spiffeID "nope"`, api("api", "fetch", "wit", "-spiffeID", "nope")...)
	})

	var token string
	t.Run("fetch jwt prints the token, which validate accepts", func(t *testing.T) {
		token = strings.TrimSpace(wantOK(t, api("api", "fetch", "jwt", "-audience", "billing")...))
		if strings.Count(token, ".") != 2 {
			t.Fatalf("not a JWT: %q", token)
		}
		out := wantOK(t, api("api", "validate", "jwt", "-audience", "billing", "-svid", token)...)
		if out != "SVID is valid.\nSPIFFE ID: "+workloadID+"\n" {
			t.Errorf("validate stdout %q", out)
		}
	})
	t.Run("fetch jwt -output json is the SVID and the JWT bundles, as SPIRE prints them", func(t *testing.T) {
		var parts []json.RawMessage
		if err := json.Unmarshal([]byte(wantOK(t, api("api", "fetch", "jwt", "-audience", "billing", "-spiffeID", workloadID, "-output", "json")...)), &parts); err != nil || len(parts) != 2 {
			t.Fatalf("want a JSON array of two: %v", err)
		}
		var svids workload.JWTSVIDResponse
		var bundles workload.JWTBundlesResponse
		if err := protojson.Unmarshal(parts[0], &svids); err != nil || len(svids.Svids) != 1 || svids.Svids[0].SpiffeId != workloadID {
			t.Errorf("first element %s: %v", parts[0], err)
		}
		if err := protojson.Unmarshal(parts[1], &bundles); err != nil || !strings.Contains(string(bundles.Bundles["spiffe://"+trustDomain]), `"keys"`) {
			t.Errorf("second element %s: %v", parts[1], err)
		}
	})
	t.Run("validate jwt -output json is the ValidateJWTSVIDResponse with the claims", func(t *testing.T) {
		var resp workload.ValidateJWTSVIDResponse
		if err := protojson.Unmarshal([]byte(wantOK(t, api("api", "validate", "jwt", "-audience", "billing", "-svid", token, "-output", "json")...)), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.SpiffeId != workloadID || resp.Claims.Fields["sub"].GetStringValue() != workloadID {
			t.Errorf("response %v", &resp)
		}
	})
	t.Run("validate jwt refuses another audience", func(t *testing.T) {
		wantError(t, "JWT-SVID is not valid", api("api", "validate", "jwt", "-audience", "payroll", "-svid", token)...)
	})
	t.Run("watch -count 1 prints the first update", func(t *testing.T) {
		out := wantOK(t, api("api", "watch", "-count", "1")...)
		if !regexp.MustCompile(`^Update 1 at \S+: 1 SVID\(s\)\n  ` + workloadID + `  expires \S+\n  bundles: ` + trustDomain + `\n$`).MatchString(out) {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("watch -output json prints one X509SVIDResponse a line", func(t *testing.T) {
		out := wantOK(t, api("api", "watch", "-count", "1", "-output", "json")...)
		var resp workload.X509SVIDResponse
		if strings.Count(out, "\n") != 1 || protojson.Unmarshal([]byte(out), &resp) != nil || resp.Svids[0].SpiffeId != workloadID {
			t.Errorf("stdout:\n%s", out)
		}
	})
	t.Run("flags are checked before the agent is called", func(t *testing.T) {
		wantError(t, "-audience is required", api("api", "fetch", "jwt")...)
		wantError(t, "-audience and -svid are required", api("api", "validate", "jwt", "-audience", "a")...)
		wantError(t, "-count must be 0 or more", api("api", "watch", "-count", "-1")...)
		wantError(t, `-spiffeID "nope"`, api("api", "fetch", "jwt", "-audience", "a", "-spiffeID", "nope")...)
	})
	t.Run("a socket nobody serves fails in words", func(t *testing.T) {
		wantError(t, "fetching X.509-SVIDs", "api", "fetch", "x509", "-socketPath", filepath.Join(t.TempDir(), "none.sock"), "-timeout", "1s")
	})

	t.Run("healthcheck of a ready agent", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want string
		}{
			{nil, "Agent is healthy.\n"},
			{[]string{"-verbose"}, "Health status: SERVING\nAgent is healthy.\n"},
			{[]string{"-output", "json"}, `{"status":"SERVING"}` + "\n"},
		} {
			// Asked on its Workload API socket (spire-agent's way) and on its health endpoint.
			for _, where := range [][]string{{"-socketPath", s.apiSock}, {"-address", s.healthAddr}} {
				if out := wantOK(t, append(append([]string{"healthcheck"}, where...), tt.args...)...); out != tt.want {
					t.Errorf("healthcheck %v %v: stdout %q, want %q", where, tt.args, out, tt.want)
				}
			}
		}
	})
	t.Run("healthcheck of an agent not listening says so", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		wantError(t, "is lanyard-agent running?", "healthcheck", "-address", addr)
		wantError(t, "is lanyard-agent running?", "healthcheck", "-socketPath", filepath.Join(t.TempDir(), "none.sock"))
	})

	t.Run("logger and debug on the admin socket", func(t *testing.T) {
		admin := func(args ...string) []string { return append(args, "-socketPath", s.adminSock) }
		if out := wantOK(t, admin("logger", "get")...); out != "Logger Level : info\nLaunch Level : info\n" {
			t.Errorf("logger get:\n%s", out)
		}
		wantOK(t, admin("logger", "set", "-level", "debug")...)
		if out := wantOK(t, admin("logger", "get", "-output", "json")...); !strings.Contains(out, `"current_level":"DEBUG"`) || !strings.Contains(out, `"launch_level":"INFO"`) {
			t.Errorf("logger get -output json: %s", out)
		}
		wantError(t, `-level: log level "verbose"`, admin("logger", "set", "-level", "verbose")...)
		wantOK(t, admin("logger", "reset")...)
		if got := s.levels.Leveler().Level().String(); got != "INFO" {
			t.Errorf("after logger reset the level is %s", got)
		}
		out := wantOK(t, admin("debug")...)
		for _, want := range []string{"Cached X.509-SVIDs : ", "SVID chain [0]     : spiffe://" + trustDomain + "/spire/agent/join_token/"} {
			if !strings.Contains(out, want) {
				t.Errorf("debug lacks %q:\n%s", want, out)
			}
		}
		var info struct {
			SVIDChain []json.RawMessage `json:"svid_chain"`
		}
		if err := json.Unmarshal([]byte(wantOK(t, admin("debug", "-output", "json")...)), &info); err != nil || len(info.SVIDChain) == 0 {
			t.Errorf("debug -output json: %v %+v", err, info)
		}
		wantError(t, "-socketPath is required: the agent's admin_socket_path", "debug")
	})
}

func TestUsageAndMistakes(t *testing.T) {
	t.Run("help lists every command on stdout", func(t *testing.T) {
		out := wantOK(t, "help")
		for _, c := range table.Commands {
			if !strings.Contains(out, c.Name) {
				t.Errorf("usage lacks %q:\n%s", c.Name, out)
			}
		}
	})
	t.Run("an unknown command names itself, then the usage", func(t *testing.T) {
		errOut := wantError(t, `unknown command "api fetchh"`, "api", "fetchh", "x509")
		if !strings.Contains(errOut, "api fetch x509") {
			t.Errorf("stderr lacks the usage:\n%s", errOut)
		}
	})
	t.Run("an unknown flag names the command and how to get its flags", func(t *testing.T) {
		wantError(t, "api fetch x509: flag provided but not defined: -colour (run 'lanyard-agent api fetch x509 -h' for usage)", "api", "fetch", "x509", "-colour")
	})
	t.Run("-output takes pretty or json", func(t *testing.T) {
		wantError(t, `-output must be pretty or json, not "xml"`, "healthcheck", "-output", "xml")
	})
	t.Run("-h prints a command's flags", func(t *testing.T) {
		out := wantOK(t, "api", "fetch", "jwt", "-h")
		for _, flag := range []string{"-audience", "-spiffeID", "-socketPath", "-output", "-timeout"} {
			if !strings.Contains(out, flag) {
				t.Errorf("api fetch jwt -h lacks %s:\n%s", flag, out)
			}
		}
	})
}

// The agent's own health endpoint while the agent is not ready: a deep check fails with
// the reason, -shallow passes because the agent answered.
func TestHealthcheckOfAnAgentNotReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	notReady := func(context.Context) error { return errors.New("no agent SVID yet") }
	go func() { done <- health.Serve(ctx, ln, notReady, prometheus.NewRegistry()) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	addr := ln.Addr().String()
	wantError(t, "agent is unhealthy: health status NOT_SERVING: not ready: no agent SVID yet", "healthcheck", "-address", addr)
	if out := wantOK(t, "healthcheck", "-address", addr, "-shallow"); out != "Agent is alive (health status NOT_SERVING).\n" {
		t.Errorf("-shallow: stdout %q", out)
	}
	if out := wantOK(t, "healthcheck", "-address", addr, "-shallow", "-verbose"); out != "Health status: NOT_SERVING: not ready: no agent SVID yet\nAgent is alive (health status NOT_SERVING).\n" {
		t.Errorf("-shallow -verbose: stdout %q", out)
	}
	if out := wantOK(t, "healthcheck", "-address", addr, "-shallow", "-output", "json"); out != `{"status":"NOT_SERVING"}`+"\n" {
		t.Errorf("-shallow -output json: stdout %q", out)
	}
}
