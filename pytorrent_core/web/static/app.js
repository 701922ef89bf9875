// Entry point for every signed-in page (loaded as a module): the connection
// badge everywhere, the torrent page where there is one.
import "./js/main.js";
