// Package envvar is how sesguard's functions report a bad environment
// variable: one format, NAME="value": what is wanted (the value left out
// where it may be a secret). Each LoadConfig checks every variable and
// joins the errors (errors.Join), so one cold start names everything that
// needs fixing.
package envvar

import "fmt"

// Bad is the error for variable name holding value: NAME="value": want.
func Bad(name, value, want string) error {
	return fmt.Errorf("%s=%q: %s", name, value, want)
}

// BadHidden is Bad for a value that must not be repeated (a secret put
// where its name belongs, an email address): NAME: want.
func BadHidden(name, want string) error {
	return fmt.Errorf("%s: %s (value not shown)", name, want)
}
