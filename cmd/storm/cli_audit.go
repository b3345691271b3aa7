package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stormcreds/storm/client"
	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// auditVerify prints the outcome of checking the audit hash chain, asked
// of the server or, with --file, of an export made by "audit export"; it
// fails (exit status 1) when the chain is broken.
func (c *cli) auditVerify(ctx context.Context, f *flags, args []string) error {
	file := f.FlagSet.String("file", "", "verify the export `FILE` (JSON lines) offline instead of asking the server")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	var res client.AuditVerification
	if *file != "" {
		r, err := verifyExport(*file)
		if err != nil {
			return err
		}
		res = client.AuditVerification(r)
	} else {
		cl, err := c.client(true)
		if err != nil {
			return err
		}
		if res, err = cl.VerifyAudit(ctx); err != nil {
			return err
		}
	}
	if c.json {
		if err := c.printJSON(res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintf(c.stdout, "audit chain ok: %d entries\n", res.Entries)
	} else {
		fmt.Fprintf(c.stdout, "audit chain broken: %d entries; first bad entry %s: %s\n", res.Entries, res.FirstBad, res.Reason)
	}
	if !res.OK {
		return fmt.Errorf("audit chain broken at %s", res.FirstBad)
	}
	return nil
}

// verifyExport checks an export file line by line, with bounded memory.
func verifyExport(path string) (audit.Result, error) {
	fh, err := os.Open(path)
	if err != nil {
		return audit.Result{}, err
	}
	defer fh.Close()
	var v audit.Verifier
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), maxExportLine)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec client.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return audit.Result{}, fmt.Errorf("%s line %d: not an audit entry: %w", path, n, err)
		}
		v.Add(storeRecord(rec))
	}
	if err := sc.Err(); err != nil {
		return audit.Result{}, fmt.Errorf("%s: %w", path, err)
	}
	return v.Result(), nil
}

// maxExportLine bounds one exported entry; the server's entries are far
// smaller.
const maxExportLine = 4 << 20

// storeRecord is an exported entry as the hash chain sees it.
func storeRecord(r client.AuditRecord) store.AuditRecord {
	return store.AuditRecord{ID: r.ID, WorkspaceID: r.Workspace, Actor: r.Actor, Action: r.Action, Target: r.Target,
		At: r.At, IP: r.IP, Detail: r.Detail, Seq: r.Seq, PrevHash: r.PrevHash, Hash: r.Hash}
}

// exportState is where an export stands: the last entry delivered. For a
// file it is the file's last line; for a URL, the --state file.
type exportState struct {
	After string `json:"after"` // id of the last entry delivered
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
}

// exportSink is where exported entries go. Deliver must either deliver
// the whole batch and record it as the new state, or fail having
// delivered at most a prefix that Resume (at the next start) recognises.
type exportSink interface {
	Resume() (exportState, error)
	Deliver(ctx context.Context, lines [][]byte, last exportState) error
	String() string
}

// auditExport streams the audit log as JSON lines, one entry each, to a
// file (appended) or a URL (POSTed in batches), starting after the last
// entry it delivered before, so restarts leave no gap and repeat nothing.
func (c *cli) auditExport(ctx context.Context, f *flags, args []string) error {
	to := f.FlagSet.String("to", "", "append to `FILE`, or POST batches to an http(s) URL")
	statePath := f.FlagSet.String("state", "", "with a URL: the `FILE` that remembers the last delivered entry")
	follow := f.FlagSet.Bool("follow", false, "keep exporting new entries until interrupted")
	every := f.FlagSet.Duration("interval", 5*time.Second, "with --follow: how often to look for new entries")
	batch := f.FlagSet.Int("batch", 500, "entries per request and per write (1 to 1000)")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	if *to == "" {
		return f.usageErr("--to FILE or URL is required")
	}
	if *batch < 1 || *batch > 1000 {
		return f.usageErr("--batch must be from 1 to 1000")
	}
	if *every <= 0 {
		return f.usageErr("--interval must be positive")
	}
	var sink exportSink
	if strings.HasPrefix(*to, "http://") || strings.HasPrefix(*to, "https://") {
		if *statePath == "" {
			return f.usageErr("--state FILE is required with a URL: it is how a restarted export knows where it stopped")
		}
		sink = &urlSink{url: *to, state: *statePath, http: &http.Client{Timeout: 30 * time.Second}}
	} else {
		if *statePath != "" {
			return f.usageErr("--state is for a URL; a file's last line is its state")
		}
		sink = &fileSink{path: *to}
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	st, err := sink.Resume()
	if err != nil {
		return err
	}
	total := 0
	defer func() { fmt.Fprintf(c.stderr, "exported %d audit entries to %s\n", total, sink) }()
	for {
		page, err := cl.AuditPage(ctx, client.AuditFilter{After: st.After, Limit: *batch})
		if err != nil {
			if *follow && ctx.Err() == nil && temporary(err) {
				fmt.Fprintf(c.stderr, "storm: %v; retrying\n", err)
				if sleep(ctx, *every) != nil {
					return nil
				}
				continue
			}
			if ctx.Err() != nil && *follow {
				return nil
			}
			return err
		}
		if len(page.Records) > 0 {
			if err := continues(st, page.Records); err != nil {
				return err
			}
			lines := make([][]byte, 0, len(page.Records))
			for _, r := range page.Records {
				b, err := json.Marshal(r)
				if err != nil {
					return err
				}
				lines = append(lines, b)
			}
			last := page.Records[len(page.Records)-1]
			next := exportState{After: last.ID, Seq: last.Seq, Hash: last.Hash}
			if err := sink.Deliver(ctx, lines, next); err != nil {
				if *follow && ctx.Err() == nil && temporary(err) {
					fmt.Fprintf(c.stderr, "storm: %v; retrying\n", err)
					if sleep(ctx, *every) != nil {
						return nil
					}
					continue
				}
				if ctx.Err() != nil && *follow {
					return nil
				}
				return err
			}
			st = next
			total += len(lines)
		}
		if page.Next != "" {
			continue
		}
		if !*follow {
			return nil
		}
		if sleep(ctx, *every) != nil {
			return nil
		}
	}
}

// continues checks that records extend the chain exported so far, so the
// export never holds a gap: a token that sees one workspace only, or a
// server whose log was rewritten since the last run, is refused.
func continues(st exportState, records []client.AuditRecord) error {
	prev := st
	if prev.After == "" {
		prev.Hash = audit.Genesis
	}
	for _, r := range records {
		if r.Seq != prev.Seq+1 || r.PrevHash != prev.Hash {
			if st.After == "" && prev.Seq == 0 {
				return fmt.Errorf("the audit log starts at entry %s (seq %d), not at the chain's first entry: export with an admin token, which sees every workspace", r.ID, r.Seq)
			}
			return fmt.Errorf("entry %s (seq %d) does not follow %s (seq %d) in the chain: the server's log was changed since, is another server's, or this token does not see every workspace (use an admin token)",
				r.ID, r.Seq, prev.After, prev.Seq)
		}
		prev = exportState{After: r.ID, Seq: r.Seq, Hash: r.Hash}
	}
	return nil
}

// temporary says an export step may succeed when tried again: the server
// or the receiver is down or overloaded, not refusing.
func temporary(err error) bool {
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == http.StatusTooManyRequests
	}
	var recv *receiverError
	if errors.As(err, &recv) {
		return recv.status >= 500 || recv.status == http.StatusTooManyRequests || recv.status == 0
	}
	return true // network
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fileSink appends lines to a file, which is its own state: the last
// complete line is the last entry delivered.
type fileSink struct{ path string }

func (s *fileSink) String() string { return s.path }

// Resume reads the file's last complete line. A line cut short by a crash
// mid-write is removed, so it is written again whole.
func (s *fileSink) Resume() (exportState, error) {
	fh, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return exportState{}, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return exportState{}, err
	}
	size := info.Size()
	// Read back far enough to hold the last line and the one before.
	from := max(0, size-2*maxExportLine)
	tail := make([]byte, size-from)
	if _, err := fh.ReadAt(tail, from); err != nil && !errors.Is(err, io.EOF) {
		return exportState{}, err
	}
	if end := bytes.LastIndexByte(tail, '\n') + 1; end < len(tail) {
		// A torn last line: drop it.
		if err := fh.Truncate(from + int64(end)); err != nil {
			return exportState{}, fmt.Errorf("%s: removing a partly written last line: %w", s.path, err)
		}
		tail = tail[:end]
	}
	lines := bytes.Split(bytes.TrimRight(tail, "\n"), []byte("\n"))
	last := bytes.TrimSpace(lines[len(lines)-1])
	if len(last) == 0 {
		return exportState{}, nil // empty file: from the start
	}
	var rec client.AuditRecord
	if err := json.Unmarshal(last, &rec); err != nil || rec.ID == "" || rec.Hash == "" {
		return exportState{}, fmt.Errorf("%s: the last line is not an exported audit entry; export to a new file", s.path)
	}
	return exportState{After: rec.ID, Seq: rec.Seq, Hash: rec.Hash}, nil
}

// Deliver appends the batch in one write and syncs it.
func (s *fileSink) Deliver(_ context.Context, lines [][]byte, _ exportState) error {
	fh, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if _, err := fh.Write(buf.Bytes()); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// urlSink POSTs each batch as JSON lines (application/x-ndjson) and
// records the last entry of every acknowledged (2xx) batch in a state
// file. A crash between the acknowledgement and the state write repeats
// that one batch: the Storm-Audit-First-Seq and Storm-Audit-Last-Seq
// headers let the receiver drop entries it has.
type urlSink struct {
	url   string
	state string
	http  *http.Client
}

func (s *urlSink) String() string { return redactURL(s.url) }

func (s *urlSink) Resume() (exportState, error) {
	b, err := os.ReadFile(s.state)
	if errors.Is(err, os.ErrNotExist) {
		return exportState{}, nil
	}
	if err != nil {
		return exportState{}, err
	}
	var st exportState
	if err := json.Unmarshal(b, &st); err != nil {
		return exportState{}, fmt.Errorf("%s: not an export state file: %w", s.state, err)
	}
	return st, nil
}

// receiverError is a batch the receiver did not acknowledge.
type receiverError struct {
	status int
	url    string
}

func (e *receiverError) Error() string {
	return fmt.Sprintf("audit export to %s: the receiver answered %d %s", e.url, e.status, http.StatusText(e.status))
}

func (s *urlSink) Deliver(ctx context.Context, lines [][]byte, last exportState) error {
	var first client.AuditRecord
	if err := json.Unmarshal(lines[0], &first); err != nil {
		return err
	}
	body := append(bytes.Join(lines, []byte("\n")), '\n')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("User-Agent", cliUserAgent)
	req.Header.Set("Storm-Audit-First-Seq", strconv.FormatInt(first.Seq, 10))
	req.Header.Set("Storm-Audit-Last-Seq", strconv.FormatInt(last.Seq, 10))
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("audit export to %s: %w", redactURL(s.url), errors.Unwrap(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &receiverError{status: resp.StatusCode, url: redactURL(s.url)}
	}
	return writeFileAtomic(s.state, last)
}

// writeFileAtomic replaces path with v as JSON: written to a temporary
// file, synced, then renamed, so a crash leaves the old or the new state.
func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// redactURL drops a URL's user info and query, which may hold a
// receiver's token, from messages.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '@'); j >= 0 && !strings.Contains(u[i+3:i+3+j], "/") {
			u = u[:i+3] + u[i+4+j:]
		}
	}
	return u
}
