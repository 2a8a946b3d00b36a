// The editor pages' bundle: the canvas island and its styles (static/canvas/canvas.{js,css}).
import "@xyflow/react/dist/base.css";
import "./canvas.css";
import "./main";
