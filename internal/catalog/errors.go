package catalog

import "strings"

// FieldError says what is wrong with one field. Field is a dotted path
// relative to what was checked: a catalog file ("api_key.in") or an
// integration's config object ("subdomain", "api_key.in" for custom; ""
// for the config as a whole). The API prefixes "config." when it renders
// {"field","message"}.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidationError lists every problem found at once, so a user fixes a
// config (or a developer a catalog file) in one pass instead of one error
// per round trip.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i := range e.Errors {
		msgs[i] = e.Errors[i].Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap exposes each *FieldError to errors.As.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i := range e.Errors {
		errs[i] = &e.Errors[i]
	}
	return errs
}

// fieldErrors collects FieldErrors under a path prefix.
type fieldErrors struct {
	prefix string
	list   []FieldError
}

func (f *fieldErrors) add(field, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = sprintf(format, args...)
	}
	path := f.prefix + field
	if field == "" {
		path = strings.TrimSuffix(f.prefix, ".")
	}
	f.list = append(f.list, FieldError{Field: path, Message: msg})
}

// err returns nil when nothing was collected, so callers can return it
// directly without the typed-nil trap.
func (f *fieldErrors) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &ValidationError{Errors: f.list}
}
