/* main.c — the loratty command line (filled in by the Foundation issue). */
#include <stdio.h>
int main(void) { return 0; }
