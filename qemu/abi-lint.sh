#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# abi-lint.sh ARCH [MODULE_DIR]: on i386, check that no call the module makes
# from Rust into C passes or returns a 64-bit integer or a struct by value.
#
# rustc's -Zregparm=3 marks only arguments of 32 bits or less `inreg`
# (rust-lang/rust#145694): a u64/i64 (ktime_t, loff_t, s64, ...) or a struct
# passed by value goes on the stack from Rust and in registers in C, and a
# struct returned through memory takes its hidden pointer in EAX in C, on the
# stack from rustc. The compiler says nothing; this lint does. It reads:
#
#  - the undefined symbols of the module's Rust objects (MODULE_DIR, default
#    $CACHE/module/ARCH), and where each is called from (relocations);
#  - the prototype of each C function among them, from the kernel's generated
#    bindings (rust/bindings/*_generated.rs, `pub type` aliases resolved,
#    `pub struct`/`pub union` by value detected) and from the module's own
#    `extern "C"` blocks (rust/kernel_ext/glue.rs);
#  - for each function of the kernel crate (or core) the module calls, the
#    C functions vmlinux's copy of it calls directly, following further Rust
#    functions transitively (llvm-objdump); indirect calls are not followed;
#  - the module's own `extern "C" fn` callbacks and fn-pointer types, which
#    C calls with the same convention;
#  - `asmlinkage` (regparm(0)) declarations of the C functions called, with
#    arguments: bindgen does not see the attribute, rustc passes them in
#    registers, C reads them from the stack.
#
# A 64-bit integer return value is fine (EDX:EAX for both).
#
# One line per offence, `symbol: param N type T (64-bit|struct by value)`
# with its call sites, and exit 1; else `abi-lint: N C functions called, all
# register-safe`. qemu/abi-allow.txt names the deliberate exceptions (the
# calling-convention probes of rust/kunit_abi.rs), and only those.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
arch=${1:?usage: abi-lint.sh ARCH [MODULE_DIR]}
mod=${2:-$CACHE/module/$arch}
kdir=$(kernel_dir "$arch")
case $arch in
i386) ;;
x86_64)
	echo "abi-lint: x86_64 passes 64-bit integers and structs as C does, nothing to check"
	exit 0 ;;
*) die "abi-lint: unknown arch $arch" ;;
esac
[ -f "$mod/rconntrack.ko" ] || die "abi-lint: no $mod/rconntrack.ko (build the module first)"
for f in vmlinux System.map rust/bindings/bindings_generated.rs; do
	[ -e "$kdir/$f" ] || die "abi-lint: no $kdir/$f (build the $arch kernel first)"
done
# The tree the module was built from (Kbuild links it as MO/source).
src=$RCT_ROOT
[ -d "$mod/source/rust" ] && src=$(cd "$mod/source" && pwd -P)
need_cmd "llvm-nm$LLVM_SUFFIX" "llvm$LLVM_SUFFIX"
need_cmd "llvm-objdump$LLVM_SUFFIX" "llvm$LLVM_SUFFIX"
need_cmd python3 python3

exec python3 - "$mod" "$kdir" "$src" "$RCT_ROOT/qemu/abi-allow.txt" "$LLVM_SUFFIX" <<'EOF'
import bisect
import os
import re
import subprocess
import sys

mod, kdir, src, allow_file, llvm = sys.argv[1:6]
NM, OBJDUMP = "llvm-nm" + llvm, "llvm-objdump" + llvm


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def strip_comments(text):
    # Keeps the newlines, for line numbers.
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def scan(s, i, stops):
    """Index of the first char of `stops` at bracket depth 0 from s[i] on,
    or of the bracket that closes the enclosing one."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c == "-" and s.startswith("->", i):
            i += 2
            continue
        if depth == 0 and c in stops:
            return i
        if c in "(<[{":
            depth += 1
        elif c in ")>]}":
            depth -= 1
            if depth < 0:
                return i
        i += 1
    return i


def split_top(s):
    out, i = [], 0
    while i < len(s):
        j = scan(s, i, ",")
        if s[i:j].strip():
            out.append(s[i:j].strip())
        i = j + 1
    return out


def parse_sig(text, i):
    """From the `(` at text[i]: ([(name, type)], variadic, return type)."""
    j = scan(text, i + 1, ")")
    params, variadic = [], False
    for a in split_top(text[i + 1 : j]):
        if a == "...":
            variadic = True
            continue
        m = re.match(r"^(?:mut\s+)?([A-Za-z_][A-Za-z_0-9]*)\s*:(?!:)\s*(.*)$", a, re.S)
        params.append((m.group(1), m.group(2).strip()) if m else ("_", a))
    ret = "()"
    m = re.compile(r"\s*->\s*").match(text, j + 1)
    if m:
        k = scan(text, m.end(), ";{")
        w = re.search(r"\swhere\s", text[m.end() : k])
        ret = text[m.end() : m.end() + w.start() if w else k].strip()
    return params, variadic, ret


class Source:
    """A file's text without comments, and line numbers on demand."""

    def __init__(self, path, label):
        self.text = strip_comments(open(path, encoding="utf-8").read())
        self.label, self._nl = label, None

    def where(self, off):
        if self._nl is None:
            self._nl = [m.start() for m in re.finditer("\n", self.text)]
        return f"{self.label}:{bisect.bisect_left(self._nl, off) + 1}"


protos = {}  # symbol -> (params, variadic, ret, Source, offset)
aliases = {}  # type name -> aliased type
records = {}  # struct/union name -> (kind, [field types], attributes)
ATTRS = r"((?:#!?\[[^\]]*\]\s*)*)"
VIS = r"(?:pub(?:\([a-z]+\))?\s+)?"


def load_decls(path, label):
    s = Source(path, label)
    text = s.text
    for m in re.finditer(
        ATTRS + VIS + r"(struct|union)\s+([A-Za-z_0-9]+)\s*(<[^>{(;]*>)?\s*([{(;])", text
    ):
        kind, name, opener = m.group(2), m.group(3), m.group(5)
        fields = []
        if opener != ";":
            end = scan(text, m.end(), "")
            for f in split_top(text[m.end() : end]):
                f = re.sub(r"^" + ATTRS + VIS, "", f)
                fm = re.match(r"^[A-Za-z_0-9]+\s*:(?!:)\s*(.*)$", f, re.S)
                fields.append(fm.group(1) if fm and opener == "{" else f)
        records.setdefault(name, (kind, fields, m.group(1)))
    for m in re.finditer(r"\b" + VIS + r"type\s+([A-Za-z_0-9]+)\s*(?:<[^=]*>)?\s*=", text):
        k = scan(text, m.end(), ";")
        aliases.setdefault(m.group(1), text[m.end() : k].strip())
    # The functions of `extern "C" { ... }` blocks.
    fn = re.compile(ATTRS + VIS + r"(?:unsafe\s+|safe\s+)?fn\s+([A-Za-z_0-9]+)\s*\(")
    for b in re.finditer(r'\bextern\s+"C"\s*\{', text):
        end = scan(text, b.end(), "")
        for f in fn.finditer(text, b.end(), end):
            params, variadic, ret = parse_sig(text, f.end() - 1)
            ln = re.search(r'link_name\s*=\s*"([^"]+)"', f.group(1))
            sym = ln.group(1) if ln else f.group(2)
            protos.setdefault(sym, (params, variadic, ret, s, f.start(2)))
    return s


bdir = os.path.join(kdir, "rust/bindings")
ksrc = os.path.join(kdir, "source")
for p, label in (
    (os.path.join(bdir, "bindings_generated.rs"), "bindings_generated.rs"),
    (os.path.join(bdir, "bindings_helpers_generated.rs"), "bindings_helpers_generated.rs"),
    (os.path.join(ksrc, "rust/bindings/lib.rs"), "rust/bindings/lib.rs"),
):
    if os.path.exists(p):
        load_decls(p, label)

rust_files = []
for root, dirs, files in os.walk(os.path.join(src, "rust")):
    dirs[:] = sorted(d for d in dirs if d not in ("host", "target"))
    rust_files += [os.path.join(root, f) for f in sorted(files) if f.endswith(".rs")]
mod_sources = [load_decls(f, os.path.relpath(f, src)) for f in rust_files]

allowed = set()
if os.path.exists(allow_file):
    for line in open(allow_file):
        line = line.split("#", 1)[0].strip()
        if line:
            allowed.add(line)

# i386: (size, alignment in a struct) of the scalars.
SCALAR = {
    "u8": (1, 1), "i8": (1, 1), "bool": (1, 1), "u16": (2, 2), "i16": (2, 2),
    "u32": (4, 4), "i32": (4, 4), "char": (4, 4), "usize": (4, 4), "isize": (4, 4),
    "u64": (8, 4), "i64": (8, 4), "u128": (16, 4), "i128": (16, 4),
    "f32": (4, 4), "f64": (8, 4),
    "c_char": (1, 1), "c_schar": (1, 1), "c_uchar": (1, 1), "c_short": (2, 2),
    "c_ushort": (2, 2), "c_int": (4, 4), "c_uint": (4, 4), "c_long": (4, 4),
    "c_ulong": (4, 4), "c_longlong": (8, 4), "c_ulonglong": (8, 4),
}
ARRAY = re.compile(r"^\[(.*);\s*(\d+)(?:usize)?\s*\]$", re.S)
EMPTY = ("__IncompleteArrayField", "__BindgenUnionField")


def norm(t):
    return re.sub(r"\s+", " ", t.strip())


def is_pointer(t):
    return t.startswith(("*", "&")) or bool(
        re.match(r"^(?:(?:::)?core::option::)?Option ?<", t)
        or re.match(r'^(?:unsafe )?(?:extern "[^"]*" )?fn ?\(', t)
    )


def resolve(t, depth=0):
    """(kind, name, generic arguments): kind is scalar, pointer, array,
    record, unit or unknown."""
    t = norm(t)
    if t in ("()", "!", ""):
        return ("unit", t, None)
    if is_pointer(t):
        return ("pointer", t, None)
    if t.startswith("["):
        return ("array", t, None)
    if t.startswith("("):
        return ("unknown", t, None)
    g = re.match(r"^(.*?)<(.*)>$", t)
    base, gen = (g.group(1), g.group(2)) if g else (t, None)
    name = base.split("::")[-1].strip()
    if name in SCALAR:
        return ("scalar", name, None)
    if name in aliases and depth < 40 and norm(aliases[name]) != t:
        return resolve(aliases[name], depth + 1)
    if name in records:
        return ("record", name, gen)
    return ("unknown", name, None)


def layout(t, depth=0):
    """(size, alignment) on i386, or None if unknown."""
    if depth > 40:
        return None
    kind, name, gen = resolve(t)
    if kind == "scalar":
        return SCALAR[name]
    if kind == "pointer":
        return (4, 4)
    if kind == "unit":
        return (0, 1)
    if kind == "array":
        m = ARRAY.match(name)
        el = m and layout(m.group(1), depth + 1)
        return el and (el[0] * int(m.group(2)), el[1])
    if kind != "record":
        return None
    if name in EMPTY:
        el = layout(gen, depth + 1) if gen else None
        return el and (0, el[1])
    if name == "__BindgenBitfieldUnit":
        return gen and layout(gen, depth + 1)
    rkind, fields, attrs = records[name]
    packed = re.search(r"packed(?:\((\d+)\))?", attrs)
    size, align = 0, 1
    for f in fields:
        fl = layout(f, depth + 1)
        if fl is None:
            return None
        fs, fa = fl
        if packed:
            fa = min(fa, int(packed.group(1) or 1))
        align = max(align, fa)
        size = max(size, fs) if rkind == "union" else (size + fa - 1) // fa * fa + fs
    m = re.search(r"align\((\d+)\)", attrs)
    if m:
        align = max(align, int(m.group(1)))
    return ((size + align - 1) // align * align, align)


def reg_fields(t, depth=0):
    """clang's shouldReturnTypeInRegister() less the size check: every
    field, recursively, of a register size (8, 16, 32 or 64 bits)."""
    kind, name, _ = resolve(t)
    if depth > 40 or kind == "unknown":
        return False
    if kind in ("scalar", "pointer"):
        return True
    if kind == "array":
        m = ARRAY.match(name)
        return bool(m) and reg_fields(m.group(1), depth + 1)
    if kind != "record":
        return False
    if name in EMPTY or name == "__BindgenBitfieldUnit":
        return True  # empty; bitfields keep their declared (int) types
    for f in records[name][1]:
        fl = layout(f)
        if fl is None or (fl[0] and not reg_fields(f, depth + 1)):
            return False
    return True


def why_param(t):
    kind, name, _ = resolve(t)
    if kind == "scalar":
        if SCALAR[name][0] > 4:
            return "64-bit" if SCALAR[name][0] == 8 else "wider than 32 bits"
        return "float" if name.startswith("f") else None
    if kind in ("pointer", "unit"):
        return None
    if kind == "record":
        return "struct by value"
    return "array by value" if kind == "array" else "unknown type"


def why_ret(t):
    kind, name, _ = resolve(t)
    # A 64-bit integer comes back in EDX:EAX from both (rust/kunit_abi.rs
    # checks it).
    if kind == "scalar" and SCALAR[name][0] == 8:
        return None
    if kind == "record":
        # -freg-struct-return and -Zreg-struct-return: a struct of 1, 2, 4
        # or 8 bytes comes back in EAX (EDX:EAX) from both, if clang agrees
        # (its fields all of register sizes); any other through memory, with
        # a hidden pointer that C takes in EAX and rustc on the stack.
        lay = layout(t)
        if lay and lay[0] in (1, 2, 4, 8) and reg_fields(t):
            return None
        return "struct by value" + (f", {lay[0]} bytes, through memory" if lay else "")
    return why_param(t)


def check_sig(params, ret):
    bad = []
    for i, (_, ptype) in enumerate(params, 1):
        why = why_param(ptype)
        if why:
            bad.append(f"param {i} type {norm(ptype)} ({why})")
    why = why_ret(ret)
    if why:
        bad.append(f"returns {norm(ret)} ({why})")
    return bad


# Symbol types of vmlinux: functions are T/t/W/w.
ksyms = {}
for line in open(os.path.join(kdir, "System.map")):
    parts = line.split()
    if len(parts) >= 3:
        ksyms.setdefault(parts[2], parts[1])


def is_func(sym):
    return sym in protos or ksyms.get(sym, "?") in "TtWw"


# Calls LLVM emits itself: libcalls (which follow -mregparm=3 through the
# NumRegisterParameters module flag, unlike `extern "C"` declarations),
# sanitizer hooks and thunks. Their arguments, if any, are 32-bit.
RUNTIME = re.compile(
    r"^(mem(cpy|move|set|cmp)|bcmp|strlen|__fentry__|__x86_return_thunk|"
    r"__x86_indirect_thunk_\w+|__x86_indirect_call_thunk_\w+|__stack_chk_fail|"
    r"__(a|k|km|t)san_\w+|__sanitizer_cov_\w+|__ubsan_handle_\w+|__kcfi_\w+|"
    r"(__rust)?__u?(div|mod)di3|__(ash[lr]|lshr|mul)di3)$"
)

# The module's Rust objects: those Kbuild built with rustc (or clippy).
objs = []
for root, _, files in os.walk(mod):
    for f in files:
        if f.startswith(".") and f.endswith(".o.cmd"):
            cmd = open(os.path.join(root, f), errors="replace").read(4096)
            obj = os.path.join(root, f[1:-4])
            if re.search(r"\b(?:rustc|clippy-driver)\s", cmd) and os.path.exists(obj):
                objs.append(obj)
if not objs:
    sys.exit(f"abi-lint: no Rust object under {mod}")

undef = set()
for o in objs:
    for line in run(NM, "-u", o).splitlines():
        undef.add(line.split()[-1])


def demangle(names):
    names = list(names)
    if not names:
        return {}
    out = subprocess.run(["llvm-cxxfilt" + llvm], input="\n".join(names),
                         capture_output=True, text=True).stdout.splitlines()
    if len(out) != len(names):
        out = names
    return {n: re.sub(r"::h[0-9a-f]{16}$", "", d) for n, d in zip(names, out)}


_sites = None


def obj_sites(sym):
    """The functions of the Rust objects that refer to sym (relocations)."""
    global _sites
    if _sites is None:
        _sites = {}
        for o in objs:
            fn = None
            for line in run(OBJDUMP, "-dr", "--no-show-raw-insn", o).splitlines():
                m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
                if m:
                    fn = m.group(1)
                    continue
                m = re.search(r"R_(?:386|X86_64)_\w+\s+([^\s+-]+)", line)
                if m and fn:
                    _sites.setdefault(m.group(1), set()).add(fn)
    return sorted(demangle(_sites.get(sym, ())).values())


def src_sites(name):
    hits = []
    pat = re.compile(r"\b" + re.escape(name) + r"\s*\(")
    for s in mod_sources:
        for m in pat.finditer(s.text):
            line_start = s.text.rfind("\n", 0, m.start()) + 1
            if not re.search(r"\bfn\s+$", s.text[line_start : m.start()]):
                hits.append(s.where(m.start()))
    return hits


# The Rust functions of vmlinux the module calls (kernel crate, core):
# their direct callees, following Rust functions transitively.
vmlinux = os.path.join(kdir, "vmlinux")
rust_called = sorted(s for s in undef if s.startswith("_R") and ksyms.get(s, "?") in "TtWw")
via = {}  # C symbol -> the module-called Rust functions that reach it
followed, todo = set(rust_called), [(s, s) for s in rust_called]
while todo:
    batch, todo = todo[:300], todo[300:]
    origin = {}
    for s, root in batch:
        origin.setdefault(s, set()).add(root)
    out = subprocess.run(
        [OBJDUMP, "-d", "--no-show-raw-insn",
         "--disassemble-symbols=" + ",".join(origin), vmlinux],
        capture_output=True, text=True,
    ).stdout
    cur = None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            cur = m.group(1)
            continue
        m = re.search(r"\s(?:call|jmp|j[a-z]+)[lq]?\s+(?:0x)?[0-9a-f]+ <([^>+]+)>", line)
        if not m or cur is None or m.group(1) == cur:
            continue
        tgt = m.group(1)
        for root in origin.get(cur, ()):
            if tgt.startswith("_R"):
                if tgt not in followed:
                    followed.add(tgt)
                    todo.append((tgt, root))
            else:
                via.setdefault(tgt, set()).add(root)

c_direct = set(s for s in undef if not s.startswith("_R") and is_func(s))
c_all = sorted(c_direct | set(s for s in via if is_func(s)))

# asmlinkage (regparm(0)) declarations of the C functions called with
# arguments: bindgen drops the attribute, so rustc passes them in registers.
asmlinkage = set()
if os.path.isdir(os.path.join(ksrc, "include")):
    names = [s for s in c_all if s in protos and protos[s][0] and not protos[s][1]]
    if names:
        r = subprocess.run(
            ["grep", "-rhzoE", "--include=*.h",
             r"asmlinkage[^;{}()]*[^A-Za-z0-9_](" + "|".join(map(re.escape, names)) + r")\s*\(",
             os.path.join(ksrc, "include"), os.path.join(ksrc, "arch/x86/include")],
            capture_output=True, text=True)
        for hit in r.stdout.split("\0"):
            m = re.search(r"([A-Za-z_0-9]+)\s*\($", hit.strip())
            if m:
                asmlinkage.add(m.group(1))

offences, allowed_hits = [], []
rnames = demangle(sorted({r for v in via.values() for r in v}))


def report(sym, bad, where):
    for b in bad:
        (allowed_hits if sym in allowed else offences).append(f"{sym}: {b}{where}")


nvar = 0
for sym in c_all:
    if RUNTIME.match(sym):
        continue
    sites = []
    if sym in c_direct:
        sites += src_sites(re.sub(r"^rust_helper_", "", sym)) or obj_sites(sym)
    sites += ["vmlinux " + rnames[r] for r in sorted(via.get(sym, ()))]
    more = ", ..." if len(sites) > 4 else ""
    called = f"called from {', '.join(sites[:4])}{more}"
    if sym not in protos:
        offences.append(f"{sym}: no prototype in the bindings or the module, "
                        f"cannot check  [{called}]")
        continue
    params, variadic, ret, decl, off = protos[sym]
    nvar += variadic
    bad = check_sig(params, ret)
    if sym in asmlinkage:
        bad.append("asmlinkage: C takes its arguments on the stack, rustc in registers")
    report(sym, bad, f"  [{decl.where(off)}; {called}]")

# C calls the module's `extern "C" fn`s with the same convention.
ncb = 0
for s in mod_sources:
    for m in re.finditer(r'\bextern\s+"C"\s+fn\s+([A-Za-z_0-9]+)\s*(?:<[^(]*>)?\s*\(', s.text):
        params, _, ret = parse_sig(s.text, m.end() - 1)
        ncb += 1
        report(m.group(1), check_sig(params, ret), f"  [callback {s.where(m.start(1))}]")
    for m in re.finditer(r'\btype\s+([A-Za-z_0-9]+)\s*=\s*(?:unsafe\s+)?extern\s+"C"\s+fn\s*\(',
                         s.text):
        params, _, ret = parse_sig(s.text, m.end() - 1)
        ncb += 1
        report(m.group(1), check_sig(params, ret), f"  [fn-pointer type {s.where(m.start(1))}]")

if os.environ.get("RCT_ABI_LINT_VERBOSE"):
    for sym in c_all:
        how = "direct" if sym in c_direct else "via " + ", ".join(
            rnames[r] for r in sorted(via.get(sym, ())))
        p = protos.get(sym)
        sig = "(runtime)" if RUNTIME.match(sym) else "(no prototype)" if not p else (
            "(" + ", ".join(norm(t) for _, t in p[0]) + (", ..." if p[1] else "") + ") -> "
            + norm(p[2]))
        print(f"abi-lint: calls {sym}{sig} [{how}]")
for line in allowed_hits:
    print("abi-lint: allowed by qemu/abi-allow.txt: " + line)
for a in sorted(allowed):
    if not any(h.startswith(a + ":") for h in allowed_hits):
        print(f"abi-lint: note: {a} is in qemu/abi-allow.txt but not called here")
for line in offences:
    print(line)
print(f"abi-lint: {len(c_direct)} C functions called from {len(objs)} Rust object(s), "
      f"{len(c_all) - len(c_direct)} more through the {len(rust_called)} kernel-crate/core "
      f"functions it calls ({len(followed)} Rust functions of vmlinux followed; "
      f"indirect calls not), {nvar} variadic; {ncb} callbacks and fn-pointer types")
if offences:
    print(f"abi-lint: {len(offences)} offence(s): not register-safe on i386 "
          f"(rust-lang/rust#145694); pass 64-bit values and structs by pointer")
    sys.exit(1)
print(f"abi-lint: {len(c_all)} C functions called, all register-safe")
EOF
