package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/lanyard-dev/lanyard/internal/yamlconf"
	"gopkg.in/yaml.v3"
)

// Addresses is one server address or several, written `server_address: lanyard.example.org`
// or `server_address: [10.0.0.1, 10.0.0.2:8091]`. An address without a port uses server_port.
type Addresses []string

// UnmarshalYAML implements yaml.Unmarshaler: a scalar or a sequence of scalars.
func (a *Addresses) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*a = Addresses{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*a = list
		return nil
	}
	return fmt.Errorf("line %d: want an address or a list of addresses", n.Line)
}

func (c *Config) validateServerAddress() error {
	if len(c.ServerAddress) == 0 {
		return yamlconf.FieldError("server_address", "is required (host name or IP of lanyard-server, or a list of them)")
	}
	if c.ServerPort <= 0 || c.ServerPort > 65535 {
		return yamlconf.FieldError("server_port", fmt.Sprintf("%d is not a port (1-65535)", c.ServerPort))
	}
	for i, addr := range c.ServerAddress {
		host, port := splitAddress(addr)
		if strings.TrimSpace(host) == "" {
			return yamlconf.FieldError(fmt.Sprintf("server_address[%d]", i), fmt.Sprintf("%q has no host", addr))
		}
		if port != "" {
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				return yamlconf.FieldError(fmt.Sprintf("server_address[%d]", i), fmt.Sprintf("%q: %q is not a port (1-65535)", addr, port))
			}
		}
	}
	return nil
}

// splitAddress splits host[:port]; a bare IPv6 address is a host.
func splitAddress(addr string) (host, port string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return strings.Trim(addr, "[]"), ""
}

// ServerAddrs lists host:port of every configured server, in the configured order: the
// agent uses the first one that answers and moves on when it stops answering.
func (c *Config) ServerAddrs() []string {
	out := make([]string, len(c.ServerAddress))
	for i, addr := range c.ServerAddress {
		host, port := splitAddress(addr)
		if port == "" {
			port = strconv.Itoa(c.ServerPort)
		}
		out[i] = net.JoinHostPort(host, port)
	}
	return out
}
