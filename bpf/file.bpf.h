/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sensitive-file access: open family, chmod, chown, rename, unlink, truncate, setxattr,
 * checked at sys_exit against the watch list (ktrail_watches, .rodata) in the kernel.
 *
 * The cost that matters is an open of a path nobody watches: one string read from user
 * memory (faulted in by the kernel's getname() by sys_exit) and a masked 8-byte compare per
 * watch entry; nothing is stored at sys_enter for opens on the tp_btf path, because the
 * syscall arguments are still in the saved registers at sys_exit. Relative paths cost a
 * dentry walk of the directory (dirfd or cwd), done only for relative paths.
 */
#ifndef KTRAIL_FILE_BPF_H
#define KTRAIL_FILE_BPF_H

#include "common.bpf.h"
#include "ssh.bpf.h"

#define KTRAIL_AT_FDCWD -100
#define KTRAIL_O_ACCMODE 03
#define KTRAIL_O_CREAT 0100
#define KTRAIL_O_TRUNC 01000
#define KTRAIL_S_IALLUGO 07777
#define KTRAIL_WATCH_WORDS (KTRAIL_WATCH_LEN / 8)

static __always_inline bool ktrail_is_file_kind(__u32 kind)
{
	return kind >= KTRAIL_SYS_OPEN && kind <= KTRAIL_SYS_FILE_LAST;
}

static __always_inline bool ktrail_is_open_kind(__u32 kind)
{
	return kind >= KTRAIL_SYS_OPEN && kind <= KTRAIL_SYS_CREAT;
}

static __always_inline bool ktrail_is_fd_kind(__u32 kind)
{
	return kind == KTRAIL_SYS_FCHMOD || kind == KTRAIL_SYS_FCHOWN ||
	       kind == KTRAIL_SYS_FTRUNCATE || kind == KTRAIL_SYS_FSETXATTR;
}

static __always_inline struct ktrail_file_tmp *ktrail_file_tmp(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ktrail_file_tmp_map, &zero);
}

/* 8 bytes of the path buffer at off (buffers have KTRAIL_PATH_MAX bytes past the mask). */
static __always_inline __u64 ktrail_path_word(const char *buf, __u32 off)
{
	__u64 w;
	/* The mask keeps the 8-byte load inside buf for the verifier. */
	__builtin_memcpy(&w, buf + (off & (KTRAIL_FILE_TMP - 1)), 8);
	return w;
}

/* Compare `len` bytes of watch entry i with buffer which at off. Global: checked once. */
__noinline int ktrail_watch_cmp(__u32 which, __u32 off, __u32 i, __u32 len)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	__u32 full = len / 8, rem = len % 8;
	const char *buf;
	int k;

	if (!t)
		return 0;
	buf = t->buf[which & 1];

	for (k = 0; k < KTRAIL_WATCH_WORDS; k++) {
		__u64 want = ktrail_watches[i & (KTRAIL_WATCH_MAX - 1)].w[k];
		__u64 got = ktrail_path_word(buf, off + k * 8);
		if (k < full) {
			if (got != want)
				return false;
			continue;
		}
		if (rem && ((got ^ want) & ((1ull << (rem * 8)) - 1)))
			return false;
		return true;
	}
	return true;
}

/*
 * The path at buf[start], plen bytes (no NUL). Returns the index of the first matching entry,
 * or -1. A prefix entry "/etc/ssh/" matches "/etc/ssh" itself and anything below it, never
 * "/etc/sshx"; a suffix entry "*X" matches any path ending in X.
 */
static __always_inline int ktrail_watch_match(__u32 which, const char *buf, __u32 start,
					      __u32 plen, bool write)
{
	/* The first 8 bytes settle almost every entry inline, without a call. */
	__u64 first = ktrail_path_word(buf, start);
	__u32 i;

	for (i = 0; i < KTRAIL_WATCH_MAX; i++) {
		__u32 len, flags, l;
		__u64 mask;
		char next;

		if (i >= ktrail_watch_n)
			break;
		len = ktrail_watches[i].len;
		flags = ktrail_watches[i].flags;
		if ((flags & KTRAIL_WATCH_WRITE) && !write)
			continue;
		if (!(flags & KTRAIL_WATCH_SUFFIX)) {
			l = (flags & KTRAIL_WATCH_PREFIX) ? len - 1 : len;
			mask = l >= 8 ? ~0ull : ((1ull << ((l & 7) * 8)) - 1);
			if ((first ^ ktrail_watches[i].w[0]) & mask)
				continue;
		}
		if (flags & KTRAIL_WATCH_SUFFIX) {
			if (plen < len || !ktrail_watch_cmp(which, start + plen - len, i, len))
				continue;
			return i;
		}
		if (flags & KTRAIL_WATCH_PREFIX) {
			/* len counts the trailing '/': compare without it, then check the boundary. */
			if (plen < len - 1 || !ktrail_watch_cmp(which, start, i, len - 1))
				continue;
			if (plen == len - 1)
				return i;
			next = buf[(start + len - 1) & (KTRAIL_FILE_TMP - 1)];
			if (next == '/')
				return i;
			continue;
		}
		if (plen == len && ktrail_watch_cmp(which, start, i, len))
			return i;
	}
	return -1;
}

/* Writes the path of (dentry, vfsmnt) backwards, "/a/b", ending just before buf[end]; the
 * caller puts '/' (or NUL) at buf[end]. Returns the start offset (end for the root). */
__noinline int ktrail_path_backward_g(__u32 which, __u32 end, __u64 dentry_p, __u64 vfsmnt_p)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	struct dentry *dentry = (struct dentry *)dentry_p;
	struct vfsmount *vfsmnt = (struct vfsmount *)vfsmnt_p;
	struct task_struct *task = ktrail_current();
	__u32 tflags = 0, *flags = &tflags;
	char *buf;
	struct dentry *root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	struct vfsmount *root_mnt = BPF_CORE_READ(task, fs, root.mnt);
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 pos = end & (KTRAIL_FILE_SPLIT * 2 - 1);
	int i;

	if (!t)
		return end;
	buf = t->buf[which & 1];
	for (i = 0; i < KTRAIL_FILE_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent;
		__u32 len;

		if (dentry == root_dentry && vfsmnt == root_mnt)
			goto done;
		if (dentry == mnt_root) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
			if (mnt_parent == mnt)
				goto done;
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = &mnt->mnt;
			continue;
		}
		parent = BPF_CORE_READ(dentry, d_parent);
		if (parent == dentry)
			goto done;
		len = BPF_CORE_READ(dentry, d_name.len);
		if (len > 255 || pos < len + 1 + 64) {
			*flags |= KTRAIL_FILE_PATH_TRUNCATED;
			goto done;
		}
		pos -= len;
		bpf_probe_read_kernel(&buf[pos & (KTRAIL_FILE_SPLIT - 1)], len & 255,
				      BPF_CORE_READ(dentry, d_name.name));
		pos -= 1;
		buf[pos & (KTRAIL_FILE_SPLIT - 1)] = '/';
		dentry = parent;
	}
	*flags |= KTRAIL_FILE_PATH_TRUNCATED;
done:
	t->flags[which & 1] |= tflags;
	return pos;
}

/*
 * The absolute form of (dirfd, user path) in buf: returns the start offset, and the length in
 * *plen; the caller's string is read at KTRAIL_FILE_SPLIT. ~0 when nothing could be read.
 */
static __always_inline __u32 ktrail_resolve(__u32 which, char *buf, long dirfd,
					    const char *upath, __u32 *plen, __u32 *flags)
{
	struct task_struct *task;
	struct dentry *d;
	struct vfsmount *m;
	long n;
	__u32 start;

	n = bpf_probe_read_user_str(&buf[KTRAIL_FILE_SPLIT], KTRAIL_PATH_MAX, upath);
	if (n <= 1)
		return ~0u;
	if (n == KTRAIL_PATH_MAX)
		*flags |= KTRAIL_FILE_PATH_TRUNCATED;
	*plen = n - 1;
	if (buf[KTRAIL_FILE_SPLIT] == '/')
		return KTRAIL_FILE_SPLIT;

	/* Relative: the directory is the dirfd's, or the working directory. */
	*flags |= KTRAIL_FILE_RELATIVE;
	task = ktrail_current();
	if ((int)dirfd == KTRAIL_AT_FDCWD) {
		d = BPF_CORE_READ(task, fs, pwd.dentry);
		m = BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *f = ktrail_task_fd(task, (int)dirfd);
		if (!f)
			return ~0u;
		d = BPF_CORE_READ(f, f_path.dentry);
		m = BPF_CORE_READ(f, f_path.mnt);
	}
	/* "./x" is common: read the string again past the "./" so it compares. */
	if (buf[KTRAIL_FILE_SPLIT] == '.' && buf[KTRAIL_FILE_SPLIT + 1] == '/') {
		n = bpf_probe_read_user_str(&buf[KTRAIL_FILE_SPLIT], KTRAIL_PATH_MAX, upath + 2);
		if (n <= 1)
			return ~0u;
		*plen = n - 1;
	}
	buf[KTRAIL_FILE_SPLIT - 1] = '/';
	start = ktrail_path_backward_g(which, KTRAIL_FILE_SPLIT - 1, (__u64)d, (__u64)m);
	start &= KTRAIL_FILE_SPLIT * 2 - 1;
	if (start > KTRAIL_FILE_SPLIT - 1)
		start = KTRAIL_FILE_SPLIT - 1;
	*plen += KTRAIL_FILE_SPLIT - start;
	return start;
}

/* A row says the directory with inode ino, `lvl` levels above the open's, may lead to a match. */
static __always_inline bool ktrail_rel_hit(__u64 ino, __u32 lvl, __u64 w)
{
	__u32 r;

	for (r = 0; r < KTRAIL_REL_MAX; r++) {
		if (r >= ktrail_rel_n)
			break;
		if (ktrail_rel[r].ino != ino)
			continue;
		if (ktrail_rel[r].flags & KTRAIL_REL_INSIDE)
			return true;
		if (lvl == 0 && !((w ^ ktrail_rel[r].word) & ktrail_rel[r].mask))
			return true;
	}
	return false;
}

/*
 * Relative path, first word w: its directory (dirfd or cwd) or a parent is on the way to a
 * watch entry. Deeper than KTRAIL_REL_LEVELS, or unreadable: a candidate.
 */
static __always_inline bool ktrail_rel_candidate(long dirfd, __u64 w)
{
	struct dentry *d, *parent;
	__u32 lvl;

	/* The cwd through BTF pointers: plain loads, no helper call per field (5.11+). */
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf) &&
	    (int)dirfd == KTRAIL_AT_FDCWD) {
		d = bpf_get_current_task_btf()->fs->pwd.dentry;
		for (lvl = 0; lvl < KTRAIL_REL_LEVELS; lvl++) {
			if (ktrail_rel_hit(d->d_inode->i_ino, lvl, w))
				return true;
			parent = d->d_parent;
			if (!parent || parent == d)
				return false;
			d = parent;
		}
		return true;
	}
	if ((int)dirfd == KTRAIL_AT_FDCWD) {
		d = BPF_CORE_READ(ktrail_current(), fs, pwd.dentry);
	} else {
		struct file *f = ktrail_task_fd(ktrail_current(), (int)dirfd);
		d = f ? BPF_CORE_READ(f, f_path.dentry) : NULL;
	}
	if (!d)
		return true;
	for (lvl = 0; lvl < KTRAIL_REL_LEVELS; lvl++) {
		if (ktrail_rel_hit(BPF_CORE_READ(d, d_inode, i_ino), lvl, w))
			return true;
		parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d)
			return false;
		d = parent;
	}
	return true;
}

/*
 * The open prefilter: whether (dirfd, upath) can match any watch entry, decided from the
 * path's first 8 bytes (absolute paths), the directory's inode (relative paths) and, with
 * suffix entries, the path's last 8 bytes: one string read, no map update, no call. Most
 * opens leave here; a candidate goes through the full resolution and match, which decides.
 */

/* tail: the last min(len, 8) bytes of a name or path, low bytes first; true when a suffix watch
 * entry ends with them. */
static __always_inline bool ktrail_suffix_match(__u64 tail, __u32 len)
{
	__u32 i;

	for (i = 0; i < KTRAIL_WATCH_MAX; i++) {
		__u64 mask;

		if (i >= ktrail_watch_n)
			break;
		if (!(ktrail_watches[i].flags & KTRAIL_WATCH_SUFFIX))
			continue;
		mask = ktrail_suffix_mask[i];
		if (len < 8)
			mask &= ~0ull << ((8 - (len & 7)) * 8);
		if (!((tail ^ ktrail_suffix_tail[i]) & mask))
			return true;
	}
	return false;
}
/* Global: its locals stay out of the frame of the sys_exit program inlining the stage, whose
 * call chain (sys_exit, build, match_path, path_backward) is at the 512-byte stack limit. */
__noinline int ktrail_open_candidate(__u64 dirfd_u, __u64 upath_u, __s64 ret)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	long dirfd = (long)dirfd_u;
	const char *upath = (const char *)upath_u;
	__u64 w, tail;
	char c0, c1;
	long n;
	__u32 i, plen;

	/* Denials are rare and may be of a watched file through a symlink: all are looked at
	 * (ktrail_file_candidate). */
	if (!t || ret == -13 /* EACCES */ || ret == -1 /* EPERM */)
		return true;
	n = bpf_probe_read_user_str(&t->buf[0][KTRAIL_FILE_SPLIT], KTRAIL_PATH_MAX, upath);
	if (n <= 1)
		return false; /* unreadable or empty: the full check would find nothing either */
	/* Bytes past the NUL are stale, but the NUL itself falls inside any compare that could
	 * reach them, so they never make a match. */
	w = ktrail_path_word(t->buf[0], KTRAIL_FILE_SPLIT);
	c0 = (char)w;
	c1 = (char)(w >> 8);
	if (c0 == '/') {
		for (i = 0; i < KTRAIL_WATCH_MAX; i++) {
			__u32 len, flags, l;
			__u64 mask;

			if (i >= ktrail_watch_n)
				break;
			flags = ktrail_watches[i].flags;
			if (flags & KTRAIL_WATCH_SUFFIX)
				continue;
			len = ktrail_watches[i].len;
			l = (flags & KTRAIL_WATCH_PREFIX) ? len - 1 : len;
			mask = l >= 8 ? ~0ull : ((1ull << ((l & 7) * 8)) - 1);
			if (!((w ^ ktrail_watches[i].w[0]) & mask))
				return true;
		}
	} else if ((c0 == '.' && (c1 == '.' || c1 == '/')) || ktrail_rel_candidate(dirfd, w)) {
		/* "../" leaves the directory and "./" shifts the compared bytes: full check. */
		return true;
	}
	if (!ktrail_watch_suffix)
		return false;
	/* Shorter than a word: its bytes sit low in w. A relative path resolves to something that
	 * ends with it, so it is compared with the entry's last min(length, entry length) bytes. */
	plen = n - 1;
	tail = n >= 9 ? ktrail_path_word(t->buf[0], KTRAIL_FILE_SPLIT + n - 9) : w << ((8 - (plen & 7)) * 8);
	return ktrail_suffix_match(tail, plen);
}

/* The fields of a dentry the inode prefilter needs, read with one helper call: d_parent,
 * d_name (hash_len, name) and d_inode have been adjacent in struct dentry since 2.6. */
struct ktrail_dent {
	struct dentry *parent;
	__u64 hash_len; /* length in the high 32 bits */
	const unsigned char *name;
	struct inode *inode;
};

static __always_inline int ktrail_dent_read(struct ktrail_dent *x, struct dentry *d)
{
	return bpf_probe_read_kernel(x, sizeof(*x),
				     (char *)d + bpf_core_field_offset(struct dentry, d_parent));
}

/* The last (up to) 8 bytes of a dentry's name, at the high end of the word like a path's tail. */
static __always_inline __u64 ktrail_name_tail(const unsigned char *name, __u32 len)
{
	__u64 w = 0;

	if (len >= 8) {
		bpf_probe_read_kernel(&w, 8, name + len - 8);
		return w;
	}
	bpf_probe_read_kernel(&w, len & 7, name);
	return w << ((8 - (len & 7)) * 8);
}

/*
 * The rows for the directory with inode ino, lvl levels above the opened file: 1 (a hit)
 * when it is a watched prefix directory, or (lvl 1) an exact entry's parent and the file's
 * name (child_name, child_len; read once into *name) matches the row's word. Above the file's
 * directory only the INSIDE rows, first in ktrail_rel, are looked at.
 */
static __always_inline int ktrail_inode_rows(__u64 ino, __u32 lvl, const unsigned char *child_name,
					     __u32 child_len, __u64 *name, bool *have_name)
{
	__u32 r;

	for (r = 0; r < KTRAIL_REL_MAX; r++) {
		if (r >= (lvl == 1 ? ktrail_rel_n : ktrail_rel_inside_n))
			break;
		if (ktrail_rel[r].ino != ino)
			continue;
		if (ktrail_rel[r].flags & KTRAIL_REL_INSIDE)
			return 1;
		if (lvl != 1)
			continue;
		/* A directory like /etc has a row per entry in it: its name is read once. */
		if (!*have_name) {
			bpf_probe_read_kernel(name, child_len >= 8 ? 8 : (child_len & 7), child_name);
			*have_name = true;
		}
		if (!((*name ^ ktrail_rel[r].word) & ktrail_rel[r].mask))
			return 1;
	}
	return 0;
}

/* What the opened-file walk found: a watch row (judge the file), or only that the file may be
 * below a watched directory missing at start (judge the file and the caller's path string). */
#define KTRAIL_OPEN_HIT 1
#define KTRAIL_OPEN_BELOW_MISSING 2

/*
 * Whether the directory with inode ino, lvl levels above the opened file, is the nearest
 * existing ancestor of a watched directory missing at start, met from a child named like the
 * missing component, at a level a watched file can be at. The level and the name keep an
 * ancestor like / or /run from sending every open below it to the string match; the child's
 * name is read only when the inode, level and length already match.
 */
static __always_inline bool ktrail_miss_hit(__u64 ino, __u32 lvl, const unsigned char *child_name,
					    __u32 child_len)
{
	bool have_name = false;
	__u64 name = 0;
	__u32 r;

	for (r = 0; r < KTRAIL_MISS_MAX; r++) {
		if (r >= ktrail_miss_n)
			break;
		if (ktrail_miss[r].ino != ino || ktrail_miss[r].len != child_len)
			continue;
		if ((ktrail_miss[r].flags & KTRAIL_MISS_AT_LEAST) ? lvl < ktrail_miss[r].lvl
								 : lvl != ktrail_miss[r].lvl)
			continue;
		if (!have_name) {
			bpf_probe_read_kernel(&name, child_len >= 8 ? 8 : (child_len & 7), child_name);
			have_name = true;
		}
		if (!((name ^ ktrail_miss[r].word) & ktrail_miss[r].mask))
			return true;
	}
	return false;
}

/* The file behind fd: the fd table through BTF pointers (plain loads, 5.11+), then one read of
 * the slot (an array of pointers is not a BTF pointer to the verifier). */
static __always_inline struct file *ktrail_open_file(long fd)
{
	struct file *f = NULL;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
		struct file **fds = fdt->fd;

		if (fd < 0 || fd >= fdt->max_fds)
			return NULL;
		bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
		return f;
	}
	return ktrail_task_fd(ktrail_current(), fd);
}

/* ktrail_open_inode_hit through bpf_rdonly_cast: the dentry walk is plain loads; only the
 * fd slot and a suffix entry's name bytes are still read by helper. */
__noinline int ktrail_open_inode_hit_fast(__u64 fd)
{
	struct file *f = ktrail_open_file((long)fd);
	const unsigned char *child_name = NULL;
	__u32 lvl, child_len = 0;
	bool have_name = false, miss = false;
	struct dentry *d;
	__u64 name = 0;

	if (!ktrail_has_rdonly_cast || !f)
		return 0;
	f = bpf_rdonly_cast(f, bpf_core_type_id_kernel(struct file));
	d = f->f_path.dentry;
	for (lvl = 0; lvl < KTRAIL_FILE_DEPTH; lvl++) {
		struct dentry *parent;

		if (!d)
			break;
		parent = d->d_parent;
		if (lvl == 0) {
			if (ktrail_watch_suffix &&
			    ktrail_suffix_match(ktrail_name_tail(d->d_name.name, d->d_name.len), d->d_name.len))
				return KTRAIL_OPEN_HIT;
		} else {
			__u64 ino = d->d_inode->i_ino;

			if (ktrail_inode_rows(ino, lvl, child_name, child_len, &name, &have_name))
				return KTRAIL_OPEN_HIT;
			if (!miss && lvl <= ktrail_miss_deepest)
				miss = ktrail_miss_hit(ino, lvl, child_name, child_len);
		}
		if (parent == d)
			break;
		/* Nothing INSIDE to look for above the file's directory, and no missing row above. */
		if (lvl >= 1 && !ktrail_rel_inside_n && (miss || lvl >= ktrail_miss_deepest))
			break;
		child_name = d->d_name.name;
		child_len = d->d_name.len;
		d = parent;
	}
	return miss ? KTRAIL_OPEN_BELOW_MISSING : 0;
}

/*
 * The open prefilter for a successful open, on the file it opened: symlinks, "..", relative
 * paths and the caller's spelling no longer matter. A candidate when the file's directory is
 * a row's directory and the file's name matches the row's word (an exact entry's parent, e.g.
 * /etc for /etc/shadow: files created or replaced after start are caught by name), when the
 * file or any parent up to KTRAIL_FILE_DEPTH levels (or the mount's root) is a watched prefix
 * directory, or when its name ends like a suffix entry. Rows come from stat() at start (inode
 * numbers only; the full match of the path walked from the dentries decides). Above the
 * file's directory only the INSIDE rows (first in ktrail_rel) are looked at. KTRAIL_OPEN_HIT
 * for those; KTRAIL_OPEN_BELOW_MISSING when only a missing directory's ancestor row
 * (ktrail_miss_hit) was met: the file may be in that directory, created after start.
 */
__noinline int ktrail_open_inode_hit(__u64 fd)
{
	struct file *f = ktrail_open_file((long)fd);
	struct ktrail_dent x = {}, child = {};
	bool have_name = false, miss = false;
	struct dentry *d;
	__u64 name = 0;
	__u32 lvl;

	if (!f)
		return 0;
	d = BPF_CORE_READ(f, f_path.dentry);
	for (lvl = 0; lvl < KTRAIL_FILE_DEPTH; lvl++) {
		struct inode *inode;
		__u64 ino;

		if (!d || ktrail_dent_read(&x, d))
			break;
		/* The opened file itself needs no inode: a watched directory opened as such is its
		 * parent's row by name. */
		if (lvl == 0) {
			if (ktrail_watch_suffix && ktrail_suffix_match(ktrail_name_tail(x.name, x.hash_len >> 32),
								       x.hash_len >> 32))
				return KTRAIL_OPEN_HIT;
		} else {
			inode = x.inode; /* a plain copy: BPF_CORE_READ(x.inode) would relocate ktrail_dent */
			ino = BPF_CORE_READ(inode, i_ino);
			if (ktrail_inode_rows(ino, lvl, child.name, child.hash_len >> 32, &name, &have_name))
				return KTRAIL_OPEN_HIT;
			if (!miss && lvl <= ktrail_miss_deepest)
				miss = ktrail_miss_hit(ino, lvl, child.name, child.hash_len >> 32);
		}
		if (x.parent == d)
			break;
		/* Nothing INSIDE to look for above the file's directory, and no missing row above. */
		if (lvl >= 1 && !ktrail_rel_inside_n && (miss || lvl >= ktrail_miss_deepest))
			break;
		child = x;
		d = x.parent;
	}
	return miss ? KTRAIL_OPEN_BELOW_MISSING : 0;
}

/* Whether the caller lives in another mount namespace than the agent (a container). */
static __always_inline bool ktrail_foreign_mntns(void)
{
	__u32 inum;

	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf))
		inum = bpf_get_current_task_btf()->nsproxy->mnt_ns->ns.inum;
	else
		inum = BPF_CORE_READ(ktrail_current(), nsproxy, mnt_ns, ns.inum);
	return inum != ktrail_agent_mntns;
}

/* Copy the resolved path into a record field (NUL-terminated). */
static __always_inline __u16 ktrail_copy_path(char *dst, const char *buf, __u32 start, __u32 plen)
{
	if (plen > KTRAIL_PATH_MAX - 1)
		plen = KTRAIL_PATH_MAX - 1;
	bpf_probe_read_kernel(dst, (plen & (KTRAIL_PATH_MAX - 1)) + 1,
			      buf + (start & (KTRAIL_FILE_TMP - 1)));
	dst[plen & (KTRAIL_PATH_MAX - 1)] = 0;
	return plen;
}

static __always_inline void ktrail_inode_attrs(struct inode *ino, __u32 *mode, __u32 *uid,
					       __u32 *gid)
{
	*mode = BPF_CORE_READ(ino, i_mode);
	*uid = BPF_CORE_READ(ino, i_uid.val);
	*gid = BPF_CORE_READ(ino, i_gid.val);
}

/* sys_enter of fd-based calls (rare): the inode's attributes before the change. */
static __always_inline void ktrail_file_enter(struct ktrail_pending *p)
{
	struct file *f;

	if (!ktrail_is_fd_kind(p->syscall))
		return;
	f = ktrail_task_fd(ktrail_current(), (int)p->args[0]);
	if (!f)
		return;
	ktrail_inode_attrs(BPF_CORE_READ(f, f_inode), &p->file_mode, &p->file_uid, &p->file_gid);
	p->file_known = 1;
}

/*
 * The heavy parts are global functions: the verifier checks each once, not once per call site
 * and per path through sys_exit, which kept the program under the complexity limit.
 */

/* Resolve (dirfd, user path) into buffer `which` and match it. Returns the watch index or -1
 * (-2: nothing readable). */
__noinline int ktrail_file_match_path(__u32 which, __u64 dirfd, __u64 upath, __u32 write)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	__u32 flags = 0, plen = 0, start;
	char *buf;

	if (!t)
		return -2;
	which &= 1;
	buf = t->buf[which];
	t->flags[which] = 0;
	start = ktrail_resolve(which, buf, (long)dirfd, (const char *)upath, &plen, &flags);
	if (start == ~0u)
		return -2;
	t->start[which] = start;
	t->plen[which] = plen;
	t->flags[which] |= flags;
	return ktrail_watch_match(which, buf, start, plen, write);
}

/* The path of an open fd into buffer 0, matched with the given intent. */
__noinline int ktrail_file_match_fd(__u64 fd, __u32 write, __u32 flags)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	struct file *f;
	__u32 start;

	if (!t)
		return -2;
	f = ktrail_task_fd(ktrail_current(), (long)fd);
	if (!f)
		return -2;
	t->buf[0][KTRAIL_FILE_SPLIT] = 0;
	t->flags[0] = flags;
	start = ktrail_path_backward_g(0, KTRAIL_FILE_SPLIT, (__u64)BPF_CORE_READ(f, f_path.dentry),
				       (__u64)BPF_CORE_READ(f, f_path.mnt));
	start &= KTRAIL_FILE_SPLIT * 2 - 1;
	if (start > KTRAIL_FILE_SPLIT)
		start = KTRAIL_FILE_SPLIT;
	t->start[0] = start;
	t->plen[0] = KTRAIL_FILE_SPLIT - start;
	return ktrail_watch_match(0, t->buf[0], start, KTRAIL_FILE_SPLIT - start, write);
}

/* Whether the caller's string in buffer `which` has a directory part ("a/b", "/tmp/x"; not
 * "x" or "/x"): only then can it pass through a symlinked directory the kernel followed. */
__noinline int ktrail_file_has_dir(__u32 which)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	__u32 end, i;
	const char *buf;

	if (!t)
		return 0;
	which &= 1;
	buf = t->buf[which];
	end = t->start[which] + t->plen[which];
	/* The caller's string sits at KTRAIL_FILE_SPLIT (after the directory for relative ones);
	 * its last component is at most NAME_MAX (255) long. */
	for (i = 2; i < 258; i++) {
		__u32 pos = end - i;

		if (pos <= KTRAIL_FILE_SPLIT)
			return 0;
		/* No upper bound test before: clang would drop the mask the verifier needs. */
		if (buf[pos & (KTRAIL_FILE_TMP - 1)] == '/')
			return 1;
	}
	return 1;
}

/*
 * A call no entry matched by its path string that may still have reached a watched file
 * through a symlink, for the agent to resolve (KTRAIL_FILE_CANDIDATE): denied opens (there is
 * no file to judge), the attribute changes (which follow the last symlink: any path may), and
 * rename/unlink, which follow only the directories in the path, so only with a directory part.
 */
static __always_inline bool ktrail_file_candidate(__u32 kind, long ret, bool two)
{
	if (ktrail_is_open_kind(kind))
		return ret == -13 /* EACCES */ || ret == -1 /* EPERM */;
	if (kind >= KTRAIL_SYS_RENAME && kind <= KTRAIL_SYS_UNLINKAT)
		return ktrail_file_has_dir(0) || (two && ktrail_file_has_dir(1));
	return true;
}

/* Builds the record for the call in ktrail_file_tmp into the scratch space. Returns its
 * size, or 0 when no watch entry matches (the common case). */
__noinline int ktrail_file_build(void)
{
	struct ktrail_file_tmp *t = ktrail_file_tmp();
	struct task_struct *task;
	struct ktrail_file *e;
	__u64 dirfd = (__u64)(long)KTRAIL_AT_FDCWD, ndirfd = (__u64)(long)KTRAIL_AT_FDCWD;
	__u64 upath = 0, unew = 0, oflags = 0, a0, a1, a2, a3, a4;
	__u32 kind, mode = 0, uid = (__u32)-1, gid = (__u32)-1, write = 1;
	int w, w2 = -1;
	bool cand = false;

	if (!t)
		return 0;
	kind = t->kind;
	a0 = t->args[0];
	a1 = t->args[1];
	a2 = t->args[2];
	a3 = t->args[3];
	a4 = t->args[4];
	switch (kind) {
	case KTRAIL_SYS_OPEN: upath = a0; oflags = a1; mode = a2; break;
	case KTRAIL_SYS_OPENAT: dirfd = a0; upath = a1; oflags = a2; mode = a3; break;
	case KTRAIL_SYS_OPENAT2: {
		__u64 how[2] = {}; /* struct open_how { u64 flags; u64 mode; u64 resolve; } */
		dirfd = a0;
		upath = a1;
		bpf_probe_read_user(how, sizeof(how), (void *)a2);
		oflags = how[0];
		mode = how[1];
		break;
	}
	case KTRAIL_SYS_CREAT: upath = a0; oflags = 01 | KTRAIL_O_CREAT | KTRAIL_O_TRUNC; mode = a1; break;
	case KTRAIL_SYS_CHMOD: upath = a0; mode = a1; break;
	case KTRAIL_SYS_FCHMOD: mode = a1; break;
	case KTRAIL_SYS_FCHMODAT: dirfd = a0; upath = a1; mode = a2; break;
	case KTRAIL_SYS_FCHMODAT2: dirfd = a0; upath = a1; mode = a2; oflags = a3; break;
	case KTRAIL_SYS_CHOWN:
	case KTRAIL_SYS_LCHOWN: upath = a0; uid = a1; gid = a2; break;
	case KTRAIL_SYS_FCHOWN: uid = a1; gid = a2; break;
	case KTRAIL_SYS_FCHOWNAT: dirfd = a0; upath = a1; uid = a2; gid = a3; oflags = a4; break;
	case KTRAIL_SYS_RENAME: upath = a0; unew = a1; break;
	case KTRAIL_SYS_RENAMEAT: dirfd = a0; upath = a1; ndirfd = a2; unew = a3; break;
	case KTRAIL_SYS_RENAMEAT2: dirfd = a0; upath = a1; ndirfd = a2; unew = a3; oflags = a4; break;
	case KTRAIL_SYS_UNLINK: upath = a0; break;
	case KTRAIL_SYS_UNLINKAT: dirfd = a0; upath = a1; oflags = a2; break;
	case KTRAIL_SYS_TRUNCATE: upath = a0; break;
	case KTRAIL_SYS_SETXATTR:
	case KTRAIL_SYS_LSETXATTR: upath = a0; oflags = a4; break;
	default: break; /* fd-based: FTRUNCATE, FSETXATTR */
	}
	if (ktrail_is_open_kind(kind))
		write = (oflags & KTRAIL_O_ACCMODE) || (oflags & (KTRAIL_O_CREAT | KTRAIL_O_TRUNC));

	w = -1;
	if (t->by_inode) {
		w = ktrail_file_match_fd(t->ret, write, KTRAIL_FILE_RESOLVED);
		if (w >= 0) {
			char c0 = 0;
			bpf_probe_read_user(&c0, 1, (const void *)upath);
			if (c0 != '/')
				t->flags[0] |= KTRAIL_FILE_RELATIVE;
		}
	}
	/* The file itself did not match (a prefilter false positive): its path string may still,
	 * where the string check applies (containers, directories missing at start). */
	if (w < 0 && t->by_inode && !t->by_path)
		return 0;
	if (w < 0 && upath) {
		w = ktrail_file_match_path(0, dirfd, upath, write);
		if (w == -2)
			return 0;
		if (unew)
			w2 = ktrail_file_match_path(1, ndirfd, unew, 1);
		if (w < 0 && w2 < 0) {
			if (!ktrail_file_candidate(kind, t->ret, unew && w2 != -2))
				return 0;
			cand = true;
		}
	} else if (w < 0) {
		w = ktrail_file_match_fd(a0, 1, KTRAIL_FILE_BY_FD);
		if (w < 0)
			return 0;
	}

	e = ktrail_scratch();
	if (!e)
		return 0;
	task = ktrail_current();
	KTRAIL_ZERO(e, offsetof(struct ktrail_file, path));
	e->ret = t->ret;
	e->arg_flags = oflags;
	e->syscall = kind;
	e->mode = ktrail_is_open_kind(kind) ? mode : (mode & KTRAIL_S_IALLUGO);
	e->uid = uid;
	e->gid = gid;
	e->watch = w >= 0 ? w : (w2 >= 0 ? w2 : 0);
	e->flags = t->flags[0] | (t->flags[1] & KTRAIL_FILE_PATH_TRUNCATED) |
		   (cand ? KTRAIL_FILE_CANDIDATE : 0);
	e->path_len = ktrail_copy_path(e->path, t->buf[0], t->start[0], t->plen[0]);
	e->new_path[0] = 0;
	if (unew && w2 != -2)
		e->new_path_len = ktrail_copy_path(e->new_path, t->buf[1], t->start[1], t->plen[1]);
	if (t->old_known) {
		e->old_mode = t->old_mode;
		e->old_uid = t->old_uid;
		e->old_gid = t->old_gid;
	} else {
		e->old_uid = e->old_gid = (__u32)-1;
	}
	/* The inode: from the new fd of an open, or the fd of an fd-based call. */
	{
		long fd = ktrail_is_open_kind(kind) ? t->ret : (upath ? -1 : (long)a0);
		struct file *f = fd >= 0 ? ktrail_task_fd(task, fd) : NULL;
		if (f) {
			struct inode *ino = BPF_CORE_READ(f, f_inode);
			__u32 m, u, g;
			e->ino = BPF_CORE_READ(ino, i_ino);
			e->dev = BPF_CORE_READ(ino, i_sb, s_dev);
			if (ktrail_is_open_kind(kind)) {
				ktrail_inode_attrs(ino, &m, &u, &g);
				e->old_mode = m; /* open: the file's mode and owner as opened */
				e->old_uid = u;
				e->old_gid = g;
			}
		}
	}
	ktrail_fill_header(&e->hdr, task, KTRAIL_EV_FILE, sizeof(*e));
	if (t->compat)
		e->hdr.flags |= KTRAIL_F_COMPAT_SYSCALL;
	return sizeof(*e);
}

/* Hands the call to ktrail_file_build through ktrail_file_tmp. NULL: nothing to check. */
static __always_inline struct ktrail_file_tmp *ktrail_file_stage(__u32 kind, bool compat,
								const __u64 *args, long ret,
								struct ktrail_pending *p)
{
	struct ktrail_file_tmp *t;
	bool by_inode = false, by_path = true;
	int i, hit;

	/* A path that does not exist is not an access: probes for absent secrets would flood. */
	if (!ktrail_trace_file || ret == -2 /* ENOENT */ || ret == -20 /* ENOTDIR */)
		return NULL;
	if (ktrail_is_agent())
		return NULL;
	if (ktrail_is_open_kind(kind)) {
		bool at = kind == KTRAIL_SYS_OPENAT || kind == KTRAIL_SYS_OPENAT2;

		/* A successful open is judged by the file it opened; the caller's path string only
		 * where inodes known at start cannot tell (containers; a file below the ancestor of
		 * a watched directory missing at start), and for failed opens (no file). */
		hit = ret < 0 ? 0 : ktrail_has_rdonly_cast ? ktrail_open_inode_hit_fast(ret)
							   : ktrail_open_inode_hit(ret);
		by_inode = hit != 0;
		by_path = ret < 0 || hit == KTRAIL_OPEN_BELOW_MISSING || ktrail_watch_missing ||
			  ktrail_foreign_mntns();
		if (!by_inode &&
		    !(by_path && ktrail_open_candidate(at ? args[0] : (__u64)(long)KTRAIL_AT_FDCWD,
						       at ? args[1] : args[0], ret)))
			return NULL;
	}
	t = ktrail_file_tmp();
	if (!t)
		return NULL;
	for (i = 0; i < 6; i++)
		t->args[i] = args[i];
	t->ret = ret;
	t->kind = kind;
	t->compat = compat;
	t->by_inode = by_inode;
	t->by_path = by_path;
	t->flags[0] = t->flags[1] = 0;
	t->old_known = p ? p->file_known : 0;
	if (p) {
		t->old_mode = p->file_mode;
		t->old_uid = p->file_uid;
		t->old_gid = p->file_gid;
	}
	return t;
}

static __always_inline void ktrail_file_finish(void *ctx)
{
	void *e;

	if (!ktrail_file_build())
		return;
	e = ktrail_scratch();
	if (e)
		ktrail_emit(ctx, e, sizeof(struct ktrail_file), KTRAIL_HOOK_FILE);
}

/* sys_exit of a file syscall: args as at sys_enter; p: the pending entry (NULL for opens read
 * from the registers at exit, which are not tracked between enter and exit). */
static __always_inline void ktrail_file_exit(void *ctx, __u32 kind, bool compat, const __u64 *args,
					     long ret, struct ktrail_pending *p)
{
	if (ktrail_file_stage(kind, compat, args, ret, p))
		ktrail_file_finish(ctx);
}

/* The same from a per-syscall tracepoint: the matching runs in ktrail_file_progs[0]. A failed
 * tail call (the program array not filled) loses the check: counted as a drop. */
static __always_inline void ktrail_file_exit_tail(void *ctx, __u32 kind, const __u64 *args, long ret,
						  struct ktrail_pending *p)
{
	if (!ktrail_file_stage(kind, false, args, ret, p))
		return;
	bpf_tail_call(ctx, &ktrail_file_progs, 0);
	ktrail_count(KTRAIL_HOOK_FILE, true);
}

#endif
