package spirehcl

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Logging maps log_level and log_format, found in both SPIRE's server and agent blocks,
// and refuses log_file: Lanyard logs to stderr only.
func Logging(s *Section, doc *Doc) {
	if v, ok := s.String("log_level"); ok {
		switch l := strings.ToLower(v); l {
		case "debug", "info", "warn", "error":
			doc.Set(l, "", "log_level")
		case "warning":
			doc.Set("warn", "", "log_level")
		case "trace":
			doc.Set("debug", "SPIRE's TRACE: Lanyard's most detailed level is debug.", "log_level")
		default:
			s.Refusef(s.LineOf("log_level"), "log_level", "%q: use DEBUG, INFO, WARN or ERROR", v)
		}
	}
	if v, ok := s.String("log_format"); ok {
		switch l := strings.ToLower(v); l {
		case "text", "json":
			doc.Set(l, "", "log_format")
		default:
			s.Refusef(s.LineOf("log_format"), "log_format", "%q: use text or json", v)
		}
	}
	s.Refuse("log_file", "Lanyard logs to stderr only: remove it and redirect stderr (journald, or 2>>FILE)")
	if s.Drop("log_source_location") {
		doc.Note(s.Key("log_source_location") + " is dropped: Lanyard's log lines do not carry source locations.")
	}
}

// Health maps the top-level health_checks block to health_address. note says what
// differs in the served paths.
func Health(root *Section, doc *Doc, note string) {
	h, ok := root.Block("health_checks")
	if !ok {
		return
	}
	on, _ := h.Bool("listener_enabled")
	addr, ok := h.String("bind_address")
	if !ok {
		addr = "localhost"
	}
	port, ok := h.Int("bind_port")
	if !ok || !Port(h, "bind_port", port) {
		port = 80
	}
	h.Drop("live_path")
	h.Drop("ready_path")
	h.Done()
	if !on {
		doc.Note("health_checks had listener_enabled = false; Lanyard's health listener stays on its loopback default.")
		return
	}
	doc.Set(net.JoinHostPort(addr, strconv.Itoa(port)), "SPIRE's health_checks listener. "+note, "health_address")
}

// FalseOnly takes boolean key k, accepting false (SPIRE's default) and refusing true
// with msg.
func FalseOnly(s *Section, k, msg string) {
	line := s.LineOf(k)
	if v, ok := s.Bool(k); ok && v {
		s.Refusef(line, k, "%s", msg)
	}
}

// FormatDuration writes d as Go duration syntax without zero units ("1h", not "1h0m0s").
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Port checks that p is a TCP port.
func Port(s *Section, k string, p int) bool {
	if p < 0 || p > 65535 {
		s.Refusef(s.LineOf(k), k, "%s is not a port (0-65535)", fmt.Sprint(p))
		return false
	}
	return true
}
