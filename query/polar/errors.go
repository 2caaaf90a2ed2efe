package polar

import (
	"fmt"
	"strings"
)

// Diagnostic is one problem found in a policy: a stable code from
// spec/polar.md §13.4 (P001, T001, B003, ...), a position and a message.
type Diagnostic struct {
	Code    string
	File    string
	Pos     Pos
	Message string
}

func (d Diagnostic) Error() string {
	if d.File != "" {
		return fmt.Sprintf("%s:%d:%d: %s %s", d.File, d.Pos.Line, d.Pos.Col, d.Code, d.Message)
	}
	return fmt.Sprintf("%d:%d: %s %s", d.Pos.Line, d.Pos.Col, d.Code, d.Message)
}

// ErrorList is the error returned by Parse and Compile: every diagnostic
// found, in source order.
type ErrorList []Diagnostic

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors:", len(l))
	for _, d := range l {
		b.WriteString("\n  ")
		b.WriteString(d.Error())
	}
	return b.String()
}

// Err returns nil for an empty list, and the list otherwise.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
