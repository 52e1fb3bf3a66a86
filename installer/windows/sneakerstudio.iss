; Inno Setup 6 script: a Windows installer for the one-folder bundle. NOT TESTED (no Windows
; machine was available): written from Inno Setup's documentation. Build the bundle on Windows
; first (python installer\build.py), then: "C:\Program Files (x86)\Inno Setup 6\ISCC.exe"
; installer\windows\sneakerstudio.iss  -> installer\dist\SneakerStudio-0.1.0-setup.exe
; Installs per user by default (no administrator rights), like most creative tools' installers.

#define AppName "Sneaker Studio"
#define AppVersion "0.1.0"
#define Bundle "..\dist\SneakerStudio"

[Setup]
AppId={{6C1B5E0A-8F3D-4E4B-9C35-5E0A7D2F5A11}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=Sneaker Studio
DefaultDirName={autopf}\Sneaker Studio
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\dist
OutputBaseFilename=SneakerStudio-{#AppVersion}-setup
SetupIconFile=..\icons\sneakerstudio.ico
UninstallDisplayIcon={app}\SneakerStudio.exe
Compression=lzma2/max
SolidCompression=yes
; The CUDA build of torch makes the bundle several GB: disk spanning is not needed, but the
; 4 GB limit of a single setup file can be reached; DiskSpanning=yes splits it if so.
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\SneakerStudio.exe"
Name: "{group}\{#AppName} command line"; Filename: "{cmd}"; Parameters: "/k ""{app}\sneakerstudio-cli.exe"" --help"; WorkingDir: "{userdocs}"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\SneakerStudio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\SneakerStudio.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
