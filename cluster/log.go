package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// discardLogger stands in for a nil logger.
var discardLogger = slog.New(slog.DiscardHandler)

// memberlistLogger adapts memberlist's *log.Logger output to a
// *slog.Logger. Memberlist writes lines such as
// "[WARN] memberlist: Refuting a suspect message"; the bracketed level
// picks the slog level. Memberlist logs a peer that stops answering as
// [ERR]; that is expected whenever a node fails, so it becomes a warning.
func memberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lv := range []struct {
		prefix string
		level  slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelWarn},
	} {
		if rest, ok := bytes.CutPrefix(line, []byte(lv.prefix)); ok {
			level, line = lv.level, bytes.TrimSpace(rest)
			break
		}
	}
	if w.l.Enabled(context.Background(), level) {
		w.l.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}
