// Package journal makes audit records durable on local disk before they
// reach the audit log, and folds them into it in bulk.
//
// Every answered secret read must be on record before the secret leaves
// (issue 16). Committing a database transaction per read, or per group of
// concurrent reads, costs the embedded SQLite store about 100 µs of CPU
// each; copying the same records into an append-only file costs a
// fraction of a microsecond. On Linux a segment's space is reserved
// (fallocate) and mapped shared, so an append is a copy into the
// kernel's page cache; elsewhere, or where the file system cannot
// reserve space, it is one write(2). Either way, once Append returns the
// records are in the page cache: they survive the death of the process
// (SIGKILL, a panic, OOM), though not of the machine — exactly what
// SQLite's WAL with synchronous=NORMAL, Storm's setting, promises for its
// own commits, and what Vault's file audit device promises.
//
// Most secret reads repeat one another: a worker reads the same
// credential again and again. Tally records such a read as one frame per
// segment with a count that later reads raise in place, an 8-byte store
// into the mapping, instead of a frame each; the fold appends the record
// once with its count, as it would have merged the frames anyway.
//
// The journal is a directory of segment files. Appends go to the current
// segment as framed, checksummed batches; a fold closes it, appends its
// records to the audit log (merged as the caller says) in one
// transaction that also marks the segment folded (store.FoldAudit), and
// removes the file. Opening a journal folds the segments a crash left
// behind; a segment already folded (a crash between the commit and the
// removal of its file) is not counted twice, and a torn last batch (a
// crash of the machine mid-write) is dropped, not misread. One process
// at a time has a journal open (a lock file in the directory).
package journal
