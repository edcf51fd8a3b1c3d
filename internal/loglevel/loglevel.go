// Package loglevel holds the log level that an operator may change while a server or
// agent runs (SPIRE's logger API): the level it was launched with, the level now, their
// mapping to SPIRE's LogLevel names, the process logger that reads it, and how the
// command lines print it.
package loglevel

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spiffe/spire-api-sdk/proto/spire/api/types"
)

// slog has no trace, fatal or panic levels: trace sits below debug, fatal and panic above
// error (Lanyard logs nothing there, so both silence the process entirely).
const (
	levelTrace = slog.LevelDebug - 4
	levelFatal = slog.LevelError + 4
	levelPanic = slog.LevelError + 8
)

// Control is a launch level and the current level. It is safe for concurrent use.
type Control struct {
	launch slog.Level
	now    slog.LevelVar
}

// New returns a Control whose current level starts at launch.
func New(launch slog.Level) *Control {
	c := &Control{launch: launch}
	c.now.Set(launch)
	return c
}

// Leveler is what log handlers read the current level from.
func (c *Control) Leveler() slog.Leveler { return &c.now }

// Logger reports the levels in the API's terms.
func (c *Control) Logger() *types.Logger {
	return &types.Logger{CurrentLevel: toAPI(c.now.Level()), LaunchLevel: toAPI(c.launch)}
}

// Set changes the current level.
func (c *Control) Set(l types.LogLevel) (*types.Logger, error) {
	level, err := fromAPI(l)
	if err != nil {
		return nil, err
	}
	c.now.Set(level)
	return c.Logger(), nil
}

// Reset returns to the launch level.
func (c *Control) Reset() *types.Logger {
	c.now.Set(c.launch)
	return c.Logger()
}

func fromAPI(l types.LogLevel) (slog.Level, error) {
	switch l {
	case types.LogLevel_TRACE:
		return levelTrace, nil
	case types.LogLevel_DEBUG:
		return slog.LevelDebug, nil
	case types.LogLevel_INFO:
		return slog.LevelInfo, nil
	case types.LogLevel_WARN:
		return slog.LevelWarn, nil
	case types.LogLevel_ERROR:
		return slog.LevelError, nil
	case types.LogLevel_FATAL:
		return levelFatal, nil
	case types.LogLevel_PANIC:
		return levelPanic, nil
	}
	return 0, fmt.Errorf("log level %v: use one of trace, debug, info, warn, error, fatal, panic", l)
}

func toAPI(l slog.Level) types.LogLevel {
	switch {
	case l <= levelTrace:
		return types.LogLevel_TRACE
	case l <= slog.LevelDebug:
		return types.LogLevel_DEBUG
	case l <= slog.LevelInfo:
		return types.LogLevel_INFO
	case l <= slog.LevelWarn:
		return types.LogLevel_WARN
	case l <= slog.LevelError:
		return types.LogLevel_ERROR
	case l <= levelFatal:
		return types.LogLevel_FATAL
	}
	return types.LogLevel_PANIC
}

// Parse reads a level name as the CLI and config files spell it (any case).
func Parse(name string) (types.LogLevel, error) {
	v, ok := types.LogLevel_value[strings.ToUpper(name)]
	if !ok || v == int32(types.LogLevel_UNSPECIFIED) {
		return 0, fmt.Errorf("log level %q: use one of trace, debug, info, warn, error, fatal, panic", name)
	}
	return types.LogLevel(v), nil
}

// Print writes l the way both command lines show it, in SPIRE's words:
// "Logger Level : debug" and "Launch Level : info".
func Print(w io.Writer, l *types.Logger) {
	fmt.Fprintf(w, "Logger Level : %s\nLaunch Level : %s\n", name(l.CurrentLevel), name(l.LaunchLevel))
}

func name(l types.LogLevel) string { return strings.ToLower(l.String()) }

// NewLogger returns a process's logger, writing text or json (format) to w at the level
// named in its config file (debug, info, warn or error), and the Control that the logger
// API changes that level through.
func NewLogger(level, format string, w io.Writer) (*slog.Logger, *Control) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // the config was validated
	c := New(l)
	opts := &slog.HandlerOptions{Level: c.Leveler()}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), c
	}
	return slog.New(slog.NewTextHandler(w, opts)), c
}
