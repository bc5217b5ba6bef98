package sqlite_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// faultVFS is an SQLite VFS that wraps the default one ("unix") and lets a
// test count the syncs of a file and make its next writes or syncs fail, as
// a failing disk would. The store under test opens its file through it with
// sqlite.WithVFS(faultVFSName).
//
// SQLite calls a VFS through C-style function tables; the transpiled
// library represents a function pointer as a uintptr holding a Go func
// value, so the wrapper copies the default VFS's table and its files'
// method tables, and puts Go functions in the slots it intercepts.
const faultVFSName = "chronicle-fault"

type fileFaults struct {
	syncs       int   // xSync calls that reached the disk
	writes      int   // xWrite calls that reached the disk
	failWrites  int   // fail the next n writes
	failSyncs   int   // fail the next n syncs
	writeCode   int32 // what a failed write returns
	injected    int   // faults injected so far
	afterWrites int   // let this many writes through before failing
}

var faults struct {
	once    sync.Once
	mu      sync.Mutex
	byPath  map[string]*fileFaults // by absolute path of the file (db, -wal, -shm)
	files   map[uintptr]string     // open sqlite3_file -> path
	methods map[uintptr]uintptr    // original io_methods -> wrapper
	orig    map[uintptr]uintptr    // wrapper io_methods -> original
	vfs     uintptr                // the default VFS
}

// installFaultVFS registers the wrapper once per process.
func installFaultVFS(t testing.TB) {
	t.Helper()
	faults.once.Do(func() {
		faults.byPath = make(map[string]*fileFaults)
		faults.files = make(map[uintptr]string)
		faults.methods = make(map[uintptr]uintptr)
		faults.orig = make(map[uintptr]uintptr)
		tls := libc.NewTLS() // kept for the life of the process, as the VFS is
		faults.vfs = sqlite3.Xsqlite3_vfs_find(tls, 0)
		if faults.vfs == 0 {
			panic("no default VFS")
		}
		size := unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})
		p := libc.Xcalloc(tls, 1, libc.Tsize_t(size))
		*(*sqlite3.Tsqlite3_vfs)(ptr(p)) = *(*sqlite3.Tsqlite3_vfs)(ptr(faults.vfs))
		v := (*sqlite3.Tsqlite3_vfs)(ptr(p))
		name, err := libc.CString(faultVFSName)
		if err != nil {
			panic(err)
		}
		v.FzName = name
		v.FpNext = 0
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&v.FxOpen)) = faultOpen
		if rc := sqlite3.Xsqlite3_vfs_register(tls, p, 0); rc != sqlite3.SQLITE_OK {
			panic(rc)
		}
	})
}

// faultsFor returns the fault state of the file at path, creating it.
func faultsFor(path string) *fileFaults {
	faults.mu.Lock()
	defer faults.mu.Unlock()
	abs, _ := filepath.Abs(path)
	f := faults.byPath[abs]
	if f == nil {
		f = &fileFaults{}
		faults.byPath[abs] = f
	}
	return f
}

// withFaults runs fn on the fault state of path under the lock.
func withFaults[T any](path string, fn func(*fileFaults) T) T {
	f := faultsFor(path)
	faults.mu.Lock()
	defer faults.mu.Unlock()
	return fn(f)
}

func origMethods(pFile uintptr) *sqlite3.Tsqlite3_io_methods {
	m := (*sqlite3.Tsqlite3_file)(ptr(pFile)).FpMethods
	faults.mu.Lock()
	o := faults.orig[m]
	faults.mu.Unlock()
	return (*sqlite3.Tsqlite3_io_methods)(ptr(o))
}

func faultOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	def := (*sqlite3.Tsqlite3_vfs)(ptr(faults.vfs))
	open := *(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&def.FxOpen))
	rc := open(tls, pVfs, zName, pFile, flags, pOutFlags)
	file := (*sqlite3.Tsqlite3_file)(ptr(pFile))
	if rc != sqlite3.SQLITE_OK || file.FpMethods == 0 || zName == 0 {
		return rc
	}
	path := libc.GoString(zName)
	faults.mu.Lock()
	defer faults.mu.Unlock()
	w, ok := faults.methods[file.FpMethods]
	if !ok {
		size := unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})
		w = libc.Xcalloc(tls, 1, libc.Tsize_t(size))
		m := (*sqlite3.Tsqlite3_io_methods)(ptr(w))
		*m = *(*sqlite3.Tsqlite3_io_methods)(ptr(file.FpMethods))
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxWrite)) = faultWrite
		*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxSync)) = faultSync
		*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxClose)) = faultClose
		faults.methods[file.FpMethods] = w
		faults.orig[w] = file.FpMethods
	}
	file.FpMethods = w
	faults.files[pFile] = path
	return rc
}

// fileState returns the fault state of an open file, or nil.
func fileState(pFile uintptr) *fileFaults {
	path, ok := faults.files[pFile]
	if !ok {
		return nil
	}
	return faults.byPath[path]
}

func faultWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	faults.mu.Lock()
	if f := fileState(pFile); f != nil {
		if f.failWrites > 0 && f.afterWrites == 0 {
			f.failWrites--
			f.injected++
			code := f.writeCode
			faults.mu.Unlock()
			return code
		}
		if f.afterWrites > 0 {
			f.afterWrites--
		}
		f.writes++
	}
	faults.mu.Unlock()
	m := origMethods(pFile)
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&m.FxWrite)))(tls, pFile, zBuf, iAmt, iOfst)
}

func faultSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	faults.mu.Lock()
	if f := fileState(pFile); f != nil {
		if f.failSyncs > 0 {
			f.failSyncs--
			f.injected++
			faults.mu.Unlock()
			return sqlite3.SQLITE_IOERR_FSYNC
		}
		f.syncs++
	}
	faults.mu.Unlock()
	m := origMethods(pFile)
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&m.FxSync)))(tls, pFile, flags)
}

func faultClose(tls *libc.TLS, pFile uintptr) int32 {
	m := origMethods(pFile)
	faults.mu.Lock()
	delete(faults.files, pFile)
	faults.mu.Unlock()
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&m.FxClose)))(tls, pFile)
}

// ptr turns an address in the C library's memory into a pointer.
func ptr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// isWAL reports whether path names a write-ahead log.
func isWAL(path string) bool { return strings.HasSuffix(path, "-wal") }
