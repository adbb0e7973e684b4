/* libdbus calls these for systemd socket activation, which the swarmlet never
 * uses. Answering "no sockets passed" lets the static link leave libsystemd out. */
int sd_listen_fds(int unset_environment) {
  (void)unset_environment;
  return 0;
}

int sd_is_socket(int fd, int family, int type, int listening) {
  (void)fd;
  (void)family;
  (void)type;
  (void)listening;
  return 0;
}
