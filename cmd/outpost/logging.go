package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"
)

// levelNotice is above every configurable level, so the few lines an
// operator needs to see a node come up, become ready and stop ("listening",
// "serving", "stopped") are printed whatever --log-level says, including
// the default, error (docs/decisions.md).
const levelNotice = slog.LevelError + 4

// newLogger returns the node's JSON logger on w at level (error, warn,
// info or debug, any case; anything else is info). Durations are printed
// human-readable ("1.5s", not nanoseconds) and levelNotice as "NOTICE".
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "error":
		l = slog.LevelError
	case "warn":
		l = slog.LevelWarn
	case "debug":
		l = slog.LevelDebug
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: replaceAttr}))
}

func replaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch {
	case a.Key == slog.LevelKey && a.Value.Any() == levelNotice:
		a.Value = slog.StringValue("NOTICE")
	case a.Value.Kind() == slog.KindDuration:
		a.Value = slog.StringValue(humanDuration(a.Value.Duration()))
	}
	return a
}

// humanDuration rounds d to a precision a person reads: milliseconds
// below a minute (microseconds below a millisecond), seconds above.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// notice logs one line that is printed at every log level.
func notice(log *slog.Logger, msg string, args ...any) {
	log.Log(context.Background(), levelNotice, msg, args...)
}
