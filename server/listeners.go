package server

import (
	"fmt"
	"net"
	"strconv"

	"github.com/lanyard-dev/lanyard/internal/unixsock"
	"github.com/lanyard-dev/lanyard/server/config"
)

// listeners are every address the server serves; health, bundleEndpoint and oidc are nil
// when not configured.
type listeners struct {
	tcp, admin, health, bundleEndpoint, oidc net.Listener
}

// listen opens every configured listener; on failure it closes those it opened.
func listen(cfg config.Config) (lns listeners, err error) {
	defer func() {
		if err != nil {
			lns.close()
		}
	}()
	addr := net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.BindPort))
	if lns.tcp, err = net.Listen("tcp", addr); err != nil {
		return lns, fmt.Errorf("listening on bind_address:bind_port %s: %w", addr, err)
	}
	// 0600: whoever can connect to the admin socket is an administrator.
	if lns.admin, err = unixsock.Listen(cfg.AdminSocketPath, 0o600); err != nil {
		return lns, fmt.Errorf("admin_socket_path: %w", err)
	}
	if h := cfg.HealthAddr(); h != "" {
		if lns.health, err = net.Listen("tcp", h); err != nil {
			return lns, fmt.Errorf("listening on health_address %s: %w", h, err)
		}
	}
	if cfg.Federation.BundleEndpoint != nil {
		a := cfg.BundleEndpointAddr()
		if lns.bundleEndpoint, err = net.Listen("tcp", a); err != nil {
			return lns, fmt.Errorf("listening on federation.bundle_endpoint %s: %w", a, err)
		}
	}
	if a := cfg.OIDCAddr(); a != "" {
		if lns.oidc, err = net.Listen("tcp", a); err != nil {
			return lns, fmt.Errorf("listening on oidc.address %s: %w", a, err)
		}
	}
	return lns, nil
}

func (l listeners) close() {
	for _, ln := range []net.Listener{l.tcp, l.admin, l.health, l.bundleEndpoint, l.oidc} {
		if ln != nil {
			ln.Close()
		}
	}
}

func lnAddr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
