import { useEffect, useState } from 'preact/hooks';
import { getSettings, onSettingsChange } from '../settings';
import type { Settings } from '../settings';

/** The current settings; the component re-renders when they change. */
export function useSettings(): Settings {
  const [settings, setSettings] = useState(getSettings);
  useEffect(() => onSettingsChange(setSettings), []);
  return settings;
}
