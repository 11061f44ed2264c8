// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The smallest exec target: a static binary without libc that exits 0 at once
 * (execve + exit_group, nothing else). Build: cc -O2 -static -nostdlib -fno-stack-protector */
void _start(void)
{
	__asm__ volatile("mov $231, %eax\n\t" /* exit_group */
			 "xor %edi, %edi\n\t"
			 "syscall");
	__builtin_unreachable();
}
