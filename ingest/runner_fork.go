package ingest

import (
	"context"
	"fmt"
	"time"
)

// Fork detection (#17 item 3). A control plane restored from a backup
// (same log id, lower seq) or re-seeded after losing its data directory
// (new log id) serves a log that is not the one the node applied: its
// events reuse seqs the node has already applied with other content. The
// Runner compares what it knows with the control plane's Origin:
//
//   - a log id other than the one it has been following;
//   - a head below the applied seq;
//   - a state digest, at the seq the node has applied, other than the
//     node's digest;
//   - a message marked Republished (Kafka, NATS: the control plane found
//     another log's events on the broker and republished after them).
//
// The Origin comes in band with the messages when the Source's transport
// carries it (poll: every feed answer has the log id, head and the digest
// at a seq), or, for Sources whose messages carry no digest (Kafka, NATS),
// from the Feed when it implements OriginReader: on the first caught-up
// message after each (re)start of the Source or reconnect of its transport
// (a change of its Health().Failures), and then at most every
// ForkCheckInterval while caught up. A fork is logged (error), counted
// (outpost_ingest_errors_total{kind="fork"}) and healed by a re-bootstrap
// from a snapshot (outpost_resyncs_total{reason="fork"}), which may go
// back to a lower seq; without a Feed ingest stops and reports it.

const defaultForkCheckInterval = 5 * time.Second

// originCheckTimeout bounds one OriginReader call.
const originCheckTimeout = 5 * time.Second

// forkState is the Runner's fork detection state, guarded by Runner.mu.
type forkState struct {
	logID       string    // the log id being followed ("" until learned)
	inBand      bool      // the Source's messages carry a digest
	needCheck   bool      // check with the Feed at the next caught-up message
	lastCheck   time.Time // last OriginReader call
	verifiedSeq uint64    // the last seq whose digest matched...
	verifiedDig string    // ...the control plane's digest
	logged      string    // cause of the last fork logged (one line per cause)
	// fresh: the state is a snapshot of the control plane's current log,
	// loaded by a re-bootstrap, and nothing from the transport has been
	// applied since; a republished marker then says nothing about it.
	fresh bool
	// failures is the Source's Health().Failures at the last check: a
	// change means the transport reconnected since.
	failures uint64
}

// checkFork compares o with the state at applied. digest returns the
// node's digest at applied. It returns the cause ("log_id", "head",
// "digest") and a description of a fork, or "" when none is seen.
func (r *Runner) checkFork(o Origin, applied uint64, digest func() string) (cause, detail string) {
	r.mu.Lock()
	known := r.fork.logID
	if o.LogID != "" && known == "" {
		r.fork.logID = o.LogID
	}
	verified := r.fork.verifiedSeq == applied && r.fork.verifiedDig == o.Digest
	fresh := r.fork.fresh
	r.mu.Unlock()
	switch {
	case o.Republished && !fresh:
		return "republished", "the control plane republished its log after finding another log's events on the transport"
	case o.LogID != "" && known != "" && o.LogID != known:
		return "log_id", fmt.Sprintf("the control plane's log id changed from %s to %s", known, o.LogID)
	case o.HasHead && o.Head < applied:
		return "head", fmt.Sprintf("the control plane's head %d is below the applied seq %d", o.Head, applied)
	case o.Digest == "" || o.DigestSeq != applied || applied == 0 || verified:
		return "", ""
	}
	if d := digest(); d != o.Digest {
		return "digest", fmt.Sprintf("at seq %d the control plane's state digest is %s, this node's %s", applied, o.Digest, d)
	}
	r.mu.Lock()
	r.fork.verifiedSeq, r.fork.verifiedDig = applied, o.Digest
	r.mu.Unlock()
	return "", ""
}

// stateDigest returns the digest of the Engine's current state.
func (r *Runner) stateDigest() string {
	v := r.cfg.Engine.State().Acquire()
	defer v.Release()
	return v.Digest()
}

// originBefore checks a message's Origin before its event is applied: a
// changed log id or a head below the applied seq (the digest is checked
// after, in originAfter).
func (r *Runner) originBefore(m Message, applied uint64) error {
	if m.Origin == nil {
		return nil
	}
	o := *m.Origin
	o.Digest = "" // checked after the message is applied
	o.Republished = o.Republished && m.Data != nil
	if cause, detail := r.checkFork(o, applied, nil); cause != "" {
		return r.forked(cause, detail, applied)
	}
	return nil
}

// originAfter checks, once a message is accepted, the digest it carries,
// or asks the Feed for the control plane's Origin when due.
func (r *Runner) originAfter(ctx context.Context, m Message) error {
	applied := r.cfg.Engine.State().Revision()
	if m.Origin != nil && m.Origin.Digest != "" {
		r.mu.Lock()
		r.fork.inBand = true
		r.mu.Unlock()
		o := *m.Origin
		o.Republished = false // checked before
		if cause, detail := r.checkFork(o, applied, r.stateDigest); cause != "" {
			return r.forked(cause, detail, applied)
		}
		return nil
	}
	or, ok := r.cfg.Feed.(OriginReader)
	if !ok || m.Behind != 0 {
		return nil
	}
	now := time.Now()
	var failures uint64
	if r.health != nil {
		failures = r.health.Health().Failures
	}
	r.mu.Lock()
	if failures != r.fork.failures {
		r.fork.failures, r.fork.needCheck = failures, true // reconnected
	}
	due := !r.fork.inBand && r.stuck == "" && (r.fork.needCheck || now.Sub(r.fork.lastCheck) >= r.cfg.ForkCheckInterval)
	if due {
		r.fork.needCheck, r.fork.lastCheck = false, now
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	// Only this Handler applies events, so applied stays put during the
	// call; whatever the control plane reports was committed after the
	// node applied it.
	cctx, cancel := context.WithTimeout(ctx, originCheckTimeout)
	o, err := or.Origin(cctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.log.Debug("cannot ask the control plane for its log head; will retry", "err", err)
		}
		return nil
	}
	if cause, detail := r.checkFork(o, applied, r.stateDigest); cause != "" {
		return r.forked(cause, detail, applied)
	}
	return nil
}

// forked reports a fork and asks Run to re-bootstrap. The returned error
// rejects the message.
func (r *Runner) forked(cause, detail string, applied uint64) error {
	err := fmt.Errorf("the control plane's event log forked (%s): %s", cause, detail)
	r.mu.Lock()
	r.errs[errKey{r.name, KindFork}]++
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	first := r.fork.logged != cause
	r.fork.logged = cause
	r.mu.Unlock()
	if first {
		msg := "control plane's event log forked from the one this node applied; re-bootstrapping from a snapshot"
		if r.cfg.Feed == nil {
			msg = "control plane's event log forked from the one this node applied; ingest stops (no feed to re-bootstrap from)"
		}
		r.log.Error(msg, "cause", cause, "detail", detail, "applied", applied)
	}
	r.requestResync(ReasonFork)
	return err
}

// forkReset forgets what was learned about the log after a re-bootstrap.
// The caller holds r.mu.
func (r *Runner) forkReset() {
	r.fork.logID, r.fork.verifiedSeq, r.fork.verifiedDig, r.fork.logged = "", 0, "", ""
	r.fork.needCheck, r.fork.fresh = true, true
}
