// Package localsql answers Oso's local-authorization questions
// (spec/local-authorization.md): from a compiled policy, a replica view,
// the request's context facts and a parsed data-bindings file it produces
// PostgreSQL text that the application runs on its own database.
//
// Everything the server knows is evaluated on the server: calls of
// predicates that cannot reach a bound (local) predicate are answered by
// the Polar engine itself, stored facts of the others are scanned from the
// view. Only what depends on the database becomes SQL: each call of a
// bound predicate joins its binding query, wrapped as a derived table with
// positional column aliases (the application's SQL is never parsed), and
// the variables it binds become columns of that table. Literals are
// inlined and escaped; fragments are never empty and a top-level OR is
// parenthesised. What cannot be translated exactly (comparisons with
// database values, recursion through bound predicates) is refused with an
// error wrapping ErrBadRequest that names the rule.
//
// The package imports query/polar and replica, never a database driver;
// its tests run the SQL on a real PostgreSQL (testenv/pgtest).
package localsql
