package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	MemTotalMiB int     `json:"mem_total_mib"`
	Kernel      string  `json:"kernel"`
	Go          string  `json:"go"`
	Python      string  `json:"python"`
	Moto        string  `json:"moto"`
	LoadBefore  string  `json:"load_before"` // /proc/loadavg when the run started: other work on the machine skews numbers
	LoadAfter   string  `json:"load_after"`
	FsyncP50Ms  float64 `json:"fsync_p50_ms"` // write+fsync of 4 KiB in the work directory
	FsyncP99Ms  float64 `json:"fsync_p99_ms"`
}

func describeMachine(python string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				m.MemTotalMiB = kb / 1024
			}
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	if out, err := exec.Command(python, "-c", "import sys,moto;print(sys.version.split()[0], moto.__version__)").Output(); err == nil {
		if py, moto, ok := strings.Cut(strings.TrimSpace(string(out)), " "); ok {
			m.Python, m.Moto = py, moto
		}
	}
	m.LoadBefore = loadAvg()
	return m
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// probeFsync times 200 write+fsync pairs of 4 KiB in dir: what one durable commit costs at
// least on this disk, and so the most a server that fsyncs each commit on its own can do.
func probeFsync(dir string) (p50, p99 float64) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return 0, 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	for i := range 200 {
		t0 := time.Now()
		if _, err := f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return 0, 0
		}
		if err := f.Sync(); err != nil {
			return 0, 0
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return float64(lat[100].Microseconds()) / 1000, float64(lat[197].Microseconds()) / 1000
}

// fileSizeMiB is the size of a SQLite database with its WAL.
func fileSizeMiB(path string) float64 {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	return float64(total) / (1 << 20)
}
