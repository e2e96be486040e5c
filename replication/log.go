package replication

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"strconv"

	"github.com/hashicorp/go-hclog"
)

// discardLogger stands in for a nil logger.
var discardLogger = slog.New(slog.DiscardHandler)

// hclogger adapts a *slog.Logger to the hclog.Logger that raft logs
// through. hclog's arguments are key/value pairs like slog's; its
// formatting values (hclog.Fmt, Hex, Octal, Binary, Quote) are formatted
// as hclog would, a lone trailing value goes under EXTRA_VALUE_AT_END as
// in hclog, and With replaces a key it already has. The slog logger names
// the component (the server passes one with component=raft); a named
// sub-logger adds module=NAME ("transport", "snapshot"), which the root
// logger does not. Trace lines become slog lines 4 below debug.
type hclogger struct {
	l    *slog.Logger
	name string // hclog's name below the root: "" or "transport", "snapshot"...
	args []any  // from With: key/value pairs, each key once
}

var _ hclog.Logger = (*hclogger)(nil)

// newHCLogger returns raft's logger over l, or a null logger for a nil l.
func newHCLogger(l *slog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return &hclogger{l: l}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// extraValueKey is hclog's key for a lone trailing value.
const extraValueKey = "EXTRA_VALUE_AT_END"

func (h *hclogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	ctx := context.Background()
	if !h.l.Enabled(ctx, lv) {
		return
	}
	attrs := make([]slog.Attr, 0, 1+(len(h.args)+len(args)+1)/2)
	if h.name != "" {
		attrs = append(attrs, slog.String("module", h.name))
	}
	attrs = appendAttrs(attrs, h.args)
	attrs = appendAttrs(attrs, args)
	h.l.LogAttrs(ctx, lv, msg, attrs...)
}

// appendAttrs appends hclog's key/value pairs as slog attributes.
func appendAttrs(attrs []slog.Attr, kv []any) []slog.Attr {
	for i := 0; i < len(kv); i += 2 {
		if i+1 == len(kv) {
			attrs = append(attrs, slog.Any(extraValueKey, hclogValue(kv[i])))
			break
		}
		attrs = append(attrs, slog.Any(hclogKey(kv[i]), hclogValue(kv[i+1])))
	}
	return attrs
}

func hclogKey(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return fmt.Sprint(k)
}

// hclogValue formats hclog's formatting types as hclog's own loggers do;
// other values go to slog as they are.
func hclogValue(v any) any {
	switch x := v.(type) {
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		if f, ok := x[0].(string); ok {
			return fmt.Sprintf(f, x[1:]...)
		}
		return fmt.Sprint(x...)
	case hclog.Hex:
		return "0x" + strconv.FormatUint(uint64(x), 16)
	case hclog.Octal:
		return "0" + strconv.FormatUint(uint64(x), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatUint(uint64(x), 2)
	case hclog.Quote:
		return strconv.Quote(string(x))
	case hclog.CapturedStacktrace:
		return string(x)
	}
	return v
}

func (h *hclogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogger) enabled(level hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(level))
}

func (h *hclogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogger) ImpliedArgs() []any { return h.args }

// With returns a logger that adds args to every line; a key it already
// has takes the new value, as in hclog.
func (h *hclogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = slices.Clone(h.args)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			c.args = setArg(c.args, extraValueKey, args[i])
			break
		}
		c.args = setArg(c.args, hclogKey(args[i]), args[i+1])
	}
	return &c
}

// setArg sets key in a list of key/value pairs whose keys are strings.
func setArg(kv []any, key string, v any) []any {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i] == key {
			kv[i+1] = v
			return kv
		}
	}
	return append(kv, key, v)
}

func (h *hclogger) Name() string { return h.name }

func (h *hclogger) Named(name string) hclog.Logger {
	c := *h
	if h.name != "" {
		name = h.name + "." + name
	}
	c.name = name
	return &c
}

func (h *hclogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

// SetLevel does nothing: the slog handler decides.
func (h *hclogger) SetLevel(hclog.Level) {}

func (h *hclogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(lv) {
			return lv
		}
	}
	return hclog.Error
}

func (h *hclogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.Info(string(trimNewline(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
