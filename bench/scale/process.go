package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instance is one `storm serve` process of the benchmark.
type instance struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	log     *os.File
	ready   time.Duration // exec to the first GET /readyz 200
	done    chan error
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startStorm execs `storm serve` on dataDir (and database, when a
// postgres URL) and waits until GET /readyz answers 200, polling every
// millisecond so the measured time to ready is not rounded up by much.
func startStorm(bin, dataDir, database, adminToken string) (*instance, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dataDir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir}
	if database != "" {
		args = append(args, "--database", database)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "STORM_ADMIN_TOKEN="+adminToken, "STORM_ALLOW_PRIVATE_UPSTREAMS=true", "STORM_LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = log, log
	in := &instance{cmd: cmd, url: "http://" + addr, dataDir: dataDir, log: log, done: make(chan error, 1)}
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { in.done <- cmd.Wait() }()
	for {
		select {
		case err := <-in.done:
			log.Close()
			return nil, fmt.Errorf("storm serve exited before it was ready (%v); see %s", err, log.Name())
		default:
		}
		resp, err := client.Get(in.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				in.ready = time.Since(t0)
				return in, nil
			}
		}
		if time.Since(t0) > 5*time.Minute {
			in.stop()
			return nil, fmt.Errorf("storm serve not ready after 5 minutes; see %s", log.Name())
		}
		time.Sleep(time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process (SIGKILL after 30 s).
func (in *instance) stop() {
	if in == nil || in.cmd.Process == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(30 * time.Second):
		in.cmd.Process.Kill()
		<-in.done
	}
	in.log.Close()
}

// memory is a process's resident set now and at its peak, in bytes
// (VmRSS and VmHWM of /proc/PID/status).
type memory struct{ rss, hwm int64 }

func (in *instance) memory() (memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(in.cmd.Process.Pid) + "/status")
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) < 1 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		}
	}
	return m, sc.Err()
}

// cpu is the CPU time the process has used (user + system).
func (in *instance) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(in.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// buildStorm builds cmd/storm once into dir.
func buildStorm(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "storm")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/storm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/storm: %w", err)
	}
	return bin, nil
}

// settle waits until the process uses less than a tenth of a CPU over
// a second (or max passes) and returns how long that took and the CPU
// it used meanwhile.
func (in *instance) settle(ctx context.Context, max time.Duration) (time.Duration, time.Duration) {
	t0, c0 := time.Now(), in.cpu()
	for time.Since(t0) < max && ctx.Err() == nil {
		c := in.cpu()
		time.Sleep(time.Second)
		if in.cpu()-c < 100*time.Millisecond {
			break
		}
	}
	return time.Since(t0), in.cpu() - c0
}
