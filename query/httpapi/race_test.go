package httpapi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/outpost-authz/outpost/replica"
)

// racePolicy grants exactly what perm facts say.
const racePolicy = `actor User {}
resource Doc {}
allow(u: User, action: String, d: Doc) if perm(u, action, d);
`

// TestConcurrentReadsSeeWholeRevisions hits /api/authorize and
// /api/actions while a writer applies events. Event N (N >= 3) replaces the
// only grant with perm(u, "pN", d), so an answer computed at revision R
// allows exactly "pR": an answer whose X-Outpost-Revision disagrees with
// what it allowed, or that mixes two revisions, is detected.
func TestConcurrentReadsSeeWholeRevisions(t *testing.T) {
	st := newState()
	a := &applier{t, st}
	a.policy(racePolicy)
	a.tokens(testKey)
	ts := startServer(t, st, nil)
	u, d := val("User", "u"), val("Doc", "d")
	anyAction := replica.Pattern{Predicate: "perm", Args: []replica.PatternArg{replica.Exact(u), replica.Any(), replica.Exact(d)}}

	const readers = 4
	stop := make(chan struct{})
	errs := make(chan error, readers+1)
	var wg sync.WaitGroup
	var checked [readers]int
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			c := ts.Client()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := raceCheck(c, ts.URL, st, rng, n%3 == 0); err != nil {
					errs <- err
					return
				}
				checked[i]++
			}
		}()
	}
	wg.Add(1)
	go func() { // operational reads under load
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, p := range []string{"/metrics", "/status", "/healthcheck"} {
				if r, err := trySend(ts.Client(), "GET", ts.URL+p, "", nil); err != nil || r.status != 200 {
					errs <- fmt.Errorf("GET %s: %d %v", p, r.status, err)
					return
				}
			}
		}
	}()
	// The writer applies events back to back for a while, so that many
	// answers are computed while the revision moves.
	deadline := time.Now().Add(400 * time.Millisecond)
	events := 0
	for ; events < 3 || time.Now().Before(deadline); events++ {
		runtime.Gosched() // Apply's write lock holds new readers back; let them in
		n := st.Revision() + 1
		a.apply(replica.Event{Kind: replica.KindBatch, Deletes: []replica.Pattern{anyAction},
			Inserts: []replica.Fact{fact("perm", u, val("String", "p"+strconv.FormatUint(n, 10)), d)}})
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for _, n := range checked {
		total += n
	}
	if total < readers {
		t.Errorf("only %d answers checked", total)
	}
	t.Logf("%d answers checked across %d events", total, events)
}

// raceCheck asks one question about a revision near the current one and
// checks the answer against the revision it reports.
func raceCheck(c *http.Client, base string, st *replica.State, rng *rand.Rand, actions bool) error {
	var r response
	var err error
	k := int64(st.Revision()) + int64(rng.IntN(4)) - 1
	if actions {
		r, err = trySend(c, "POST", base+"/api/actions",
			`{"actor_type":"User","actor_id":"u","resource_type":"Doc","resource_id":"d","context_facts":[]}`, nil)
	} else {
		r, err = trySend(c, "POST", base+"/api/authorize", authzBody("User:u", "p"+strconv.FormatInt(k, 10), "Doc:d"), nil)
	}
	if err != nil {
		return err
	}
	if r.status != 200 {
		return fmt.Errorf("status %d: %s", r.status, r.body)
	}
	rev, err := strconv.ParseInt(r.header.Get("X-Outpost-Revision"), 10, 64)
	if err != nil {
		return fmt.Errorf("X-Outpost-Revision %q", r.header.Get("X-Outpost-Revision"))
	}
	if actions {
		var got struct{ Results []string }
		if err := json.Unmarshal(r.body, &got); err != nil {
			return err
		}
		want := []string{"p" + strconv.FormatInt(rev, 10)}
		if rev < 3 {
			want = nil
		}
		if fmt.Sprint(got.Results) != fmt.Sprint(want) {
			return fmt.Errorf("actions at revision %d = %v, want %v", rev, got.Results, want)
		}
		return nil
	}
	want := fmt.Sprintf(`{"allowed":%v}`, k == rev && rev >= 3)
	if string(r.body) != want {
		return fmt.Errorf("authorize p%d at revision %d = %s, want %s", k, rev, r.body, want)
	}
	return nil
}
