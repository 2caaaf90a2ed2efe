package replica

import (
	"errors"
	"fmt"
)

// ErrPoison marks an event that can never be applied: it is malformed, names
// another environment, or its policy does not compile. Ingest stops at its
// seq; the state is unchanged and keeps serving.
var ErrPoison = errors.New("poison event")

// ErrGap marks an event whose seq is beyond applied+1. The caller must fetch
// the missing range (or re-bootstrap) before applying it. Errors wrapping
// ErrGap are *GapError values.
var ErrGap = errors.New("gap in event sequence")

// GapError reports an event that arrived after a gap: Got > Applied+1.
type GapError struct {
	Applied uint64 // the state's applied revision
	Got     uint64 // the seq of the event offered
}

func (e *GapError) Error() string {
	return fmt.Sprintf("gap in event sequence: applied %d, got %d (missing %d..%d)",
		e.Applied, e.Got, e.Applied+1, e.Got-1)
}

// Unwrap lets errors.Is(err, ErrGap) match.
func (e *GapError) Unwrap() error { return ErrGap }

// poisonf returns an error wrapping ErrPoison for event seq.
func poisonf(seq uint64, format string, args ...any) error {
	return fmt.Errorf("apply event %d: %w: %s", seq, ErrPoison, fmt.Sprintf(format, args...))
}
