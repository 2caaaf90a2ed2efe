package polar

// Database is the fact store the evaluator reads. It uses only basic types so
// that a store (package replica) can implement it without importing polar.
//
// Values are interned to symbols: small non-zero integers below 1<<31 that are
// stable for the life of the store (a store never renumbers a symbol while
// views that may hold it exist). Symbol 0 means "no symbol". The evaluator
// gives values that the store has never seen symbols of its own, at or above
// 1<<31, so a store must never hand out such numbers.
//
// A Database is read by one query at a time per call; implementations must
// not change what they return while a query runs (see replica.View).
type Database interface {
	// Lookup returns the symbol of the value (typ, id), or 0 when no stored
	// fact has ever mentioned it. Integer ids arrive in canonical form.
	Lookup(typ, id string) uint32
	// Value returns the type and id of a symbol.
	Value(sym uint32) (typ, id string)
	// TypeOf returns the store's number for the type of a symbol.
	TypeOf(sym uint32) uint16
	// TypeName returns the name of a type number.
	TypeName(t uint16) string
	// RelationID returns a handle for the stored facts of name/arity, or
	// false when no fact of that predicate has ever been stored.
	RelationID(name string, arity int) (int, bool)
	// Scan calls fn with every stored tuple of the relation that matches the
	// pattern (pattern[i] == 0 matches anything), until fn returns false.
	// The tuple slice is only valid during the call.
	Scan(rel int, pattern []uint32, fn func(tuple []uint32) bool)
	// Count returns an upper bound on the number of tuples Scan would visit
	// for the pattern. It must be cheap (the planner calls it).
	Count(rel int, pattern []uint32) int
}

// LocalSymBase is the first symbol number the evaluator uses for values that
// the store does not know (query arguments, policy literals, context facts).
const LocalSymBase = 1 << 31

// StoreIdentity is implemented by databases whose symbols, type numbers
// and relation ids stay valid across every view with the same StoreID.
// The evaluator then keeps what it resolved (policy literals, types,
// relation handles) from one query to the next instead of looking them up
// again. ValueCount and RelationCount tell it whether a value or relation
// that was absent may have appeared since.
type StoreIdentity interface {
	StoreID() uint64
	ValueCount() int
	RelationCount() int
}
