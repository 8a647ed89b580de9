// Imported first by main.tsx, so it runs before any other module of the app is evaluated.
import { captureLinkToken } from "./linkToken";

captureLinkToken();
