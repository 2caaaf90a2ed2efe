package brokers

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/twmb/franz-go/pkg/kfake"
)

// natsLogger adapts nats-server's printf-style logger to slog. Fatalf is
// logged at error level and never exits the process.
type natsLogger struct{ l *slog.Logger }

var _ server.Logger = natsLogger{}

func (n natsLogger) log(level slog.Level, format string, v ...any) {
	if !n.l.Enabled(context.Background(), level) {
		return
	}
	n.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (n natsLogger) Noticef(format string, v ...any) { n.log(slog.LevelInfo, format, v...) }
func (n natsLogger) Warnf(format string, v ...any)   { n.log(slog.LevelWarn, format, v...) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.log(slog.LevelError, format, v...) }
func (n natsLogger) Errorf(format string, v ...any)  { n.log(slog.LevelError, format, v...) }
func (n natsLogger) Debugf(format string, v ...any)  { n.log(slog.LevelDebug, format, v...) }
func (n natsLogger) Tracef(format string, v ...any)  { n.log(slog.LevelDebug-4, format, v...) }

// kfakeLogger adapts kfake's logger to slog.
type kfakeLogger struct{ l *slog.Logger }

var _ kfake.Logger = kfakeLogger{}

func (k kfakeLogger) Logf(level kfake.LogLevel, format string, v ...any) {
	var sl slog.Level
	switch level {
	case kfake.LogLevelNone:
		return
	case kfake.LogLevelError:
		sl = slog.LevelError
	case kfake.LogLevelWarn:
		sl = slog.LevelWarn
	case kfake.LogLevelInfo:
		// kfake logs every request at info; that is debug detail for us.
		sl = slog.LevelDebug
	default:
		sl = slog.LevelDebug - 4
	}
	if !k.l.Enabled(context.Background(), sl) {
		return
	}
	k.l.Log(context.Background(), sl, fmt.Sprintf(format, v...))
}
